"""Compiles a HubSpot search body (filterGroups, sorts, query) into SQL over the objects table.

Groups are OR'd, filters inside a group AND'd, as in HubSpot. Property names are checked against
the definitions before they reach SQL; values are always bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.crm.errors import PropertyIssue, property_errors, validation_error
from services.crm.properties import (
    ObjectSchema,
    PropertyDef,
    PropertyType,
    PropertyValueError,
    normalize,
    raw_to_text,
)
from services.crm.schemas import Filter, SearchInput, Sort

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_LIMIT = 200
MAX_RESULTS = 10_000  # HubSpot's search cannot page past this many results

SqlParam = str | int | float


@dataclass(frozen=True)
class CompiledSearch:
    where: str
    params: list[SqlParam]
    order_by: str
    limit: int
    offset: int


def compile_search(schema: ObjectSchema, body: SearchInput, *, archived: bool) -> CompiledSearch:
    if not 1 <= body.limit <= MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}", where="limit")
    try:
        offset = int(body.after or 0)
    except ValueError:
        raise validation_error(
            f"after must be a number, not {body.after!r}", where="after"
        ) from None
    if offset < 0 or offset + body.limit > MAX_RESULTS:
        raise validation_error(
            f"search can page through at most {MAX_RESULTS} results", where="after"
        )
    groups = body.filterGroups
    if len(groups) > MAX_GROUPS or sum(len(g.filters) for g in groups) > MAX_FILTERS:
        raise validation_error(
            f"at most {MAX_GROUPS} filterGroups and {MAX_FILTERS} filters in all",
            where="filterGroups",
        )

    clauses = ["object_type = ?", "archived_at IS NOT NULL" if archived else "archived_at IS NULL"]
    params: list[SqlParam] = [schema.type.value]
    group_sql: list[str] = []
    for group in groups:
        if not group.filters:
            continue
        if len(group.filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(
                f"at most {MAX_FILTERS_PER_GROUP} filters per group", where="filterGroups"
            )
        parts = [_filter_sql(schema, f, params) for f in group.filters]
        group_sql.append("(" + " AND ".join(parts) + ")")
    if group_sql:
        clauses.append("(" + " OR ".join(group_sql) + ")")
    if body.query and body.query.strip():
        pattern = "%" + _escape_like(body.query.strip().lower()) + "%"
        matches = [
            f"lower({_column(schema, n)}) LIKE ? ESCAPE '\\'" for n in schema.text_searchable
        ]
        params.extend([pattern] * len(matches))
        clauses.append("(" + " OR ".join(matches) + ")")
    return CompiledSearch(
        where=" AND ".join(clauses),
        params=params,
        order_by=_order_by(schema, body.sorts),
        limit=body.limit,
        offset=offset,
    )


def _column(schema: ObjectSchema, name: str) -> str:
    """The raw SQL value of a property; `name` has been checked against the definitions."""
    if name == "hs_object_id":
        return "id"
    if name == "createdate":
        return "created_at"
    if name == schema.modified_property:
        return "updated_at"
    return f"json_extract(properties, '$.\"{name}\"')"


def _typed(schema: ObjectSchema, prop: PropertyDef) -> str:
    """The expression compared and sorted on: numbers numerically, text case-insensitively."""
    column = _column(schema, prop.name)
    if prop.type is PropertyType.NUMBER and column != "id":
        return f"CAST({column} AS REAL)"
    if prop.type is PropertyType.STRING:
        return f"lower({column})"
    # Enumerations compare exactly; dates and datetimes are fixed-width text, so text order works.
    return column


def _prop(schema: ObjectSchema, name: str) -> PropertyDef:
    prop = schema.properties.get(name)
    if prop is None:
        raise property_errors(
            [PropertyIssue(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')]
        )
    return prop


def _value(prop: PropertyDef, raw: object, operator: str) -> SqlParam:
    text = raw_to_text(raw)
    if text is None:
        raise validation_error(
            f"filter {operator} on {prop.name} needs a value", where=f"filters.{prop.name}"
        )
    if prop.type is PropertyType.STRING:
        return text.strip().lower()
    if prop.type is PropertyType.ENUMERATION:
        return text.strip()
    try:
        value = normalize(prop, text)
    except PropertyValueError as err:
        raise property_errors([PropertyIssue(prop.name, err.code, err.message, text)]) from None
    if prop.type is PropertyType.NUMBER:
        return int(value) if prop.name == "hs_object_id" else float(value)
    return value


_COMPARISONS = {"EQ": "=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}


def _filter_sql(schema: ObjectSchema, flt: Filter, params: list[SqlParam]) -> str:
    prop = _prop(schema, flt.propertyName)
    op = flt.operator.upper()
    column, expr = _column(schema, prop.name), _typed(schema, prop)
    if op in _COMPARISONS:
        params.append(_value(prop, flt.value, op))
        return f"{expr} {_COMPARISONS[op]} ?"
    if op == "NEQ":
        # Like HubSpot, a record without the property is "not equal" too.
        params.append(_value(prop, flt.value, op))
        return f"({column} IS NULL OR {expr} != ?)"
    if op == "BETWEEN":
        params.extend([_value(prop, flt.value, op), _value(prop, flt.highValue, op)])
        return f"{expr} BETWEEN ? AND ?"
    if op in ("IN", "NOT_IN"):
        if not flt.values:
            raise validation_error(
                f"filter {op} on {prop.name} needs values", where=f"filters.{prop.name}"
            )
        params.extend(_value(prop, v, op) for v in flt.values)
        marks = ", ".join("?" * len(flt.values))
        if op == "IN":
            return f"{expr} IN ({marks})"
        return f"({column} IS NULL OR {expr} NOT IN ({marks}))"
    if op == "HAS_PROPERTY":
        return f"{column} IS NOT NULL"
    if op == "NOT_HAS_PROPERTY":
        return f"{column} IS NULL"
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        # Approximates HubSpot's token match: case-insensitive, `*` is a wildcard.
        token = str(_value(prop, flt.value, op)).lower()
        pattern = _escape_like(token).replace("*", "%")
        params.append(pattern if "*" in token else f"%{pattern}%")
        like = f"lower({column}) LIKE ? ESCAPE '\\'"
        return like if op == "CONTAINS_TOKEN" else f"({column} IS NULL OR NOT {like})"
    raise validation_error(
        f"operator {flt.operator!r} is not supported on {prop.name}", where="operator"
    )


def _order_by(schema: ObjectSchema, sorts: list[Sort | str]) -> str:
    if not sorts:
        return "id ASC"
    if len(sorts) > 1:
        raise validation_error("only one sort is supported", where="sorts")
    sort = sorts[0]
    if isinstance(sort, str):
        descending = sort.startswith("-")
        name = sort.lstrip("-")
    else:
        direction = sort.direction.upper()
        if direction not in ("ASCENDING", "DESCENDING"):
            raise validation_error(
                f"sort direction must be ASCENDING or DESCENDING, not {sort.direction!r}",
                where="sorts",
            )
        descending, name = direction == "DESCENDING", sort.propertyName
    expr = _typed(schema, _prop(schema, name))
    direction_sql = "DESC" if descending else "ASC"
    # Records without the property come last either way; ties keep a stable order by id.
    return f"{expr} IS NULL, {expr} {direction_sql}, id {direction_sql}"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
