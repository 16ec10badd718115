"""CRM records in SQLite: objects with JSON properties, unique values, associations.

One connection, used only from the event loop, so each write transaction runs alone. Unique
property values live in their own table whose primary key enforces uniqueness; an archived
record gives its unique values up (a new record may take them), as in HubSpot.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.crm.associations import DEFAULT_TYPES, HUBSPOT_DEFINED, TYPES, AssociationType
from services.crm.errors import (
    PropertyIssue,
    object_not_found,
    property_errors,
    unique_conflict,
    validation_error,
)
from services.crm.properties import (
    SCHEMAS,
    ObjectSchema,
    ObjectType,
    PropertyDef,
    PropertyValueError,
    format_datetime,
    normalize,
    raw_to_text,
)
from services.crm.schemas import AssociationInput, SearchInput, UpsertInput
from services.crm.search import compile_search

MAX_BATCH = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    object_type TEXT NOT NULL,
    properties TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    archived_at TEXT
);
CREATE INDEX IF NOT EXISTS objects_by_type ON objects (object_type, archived_at, id);
CREATE TABLE IF NOT EXISTS unique_values (
    object_type TEXT NOT NULL,
    property TEXT NOT NULL,
    value TEXT NOT NULL,
    object_id INTEGER NOT NULL REFERENCES objects (id),
    PRIMARY KEY (object_type, property, value)
);
CREATE TABLE IF NOT EXISTS associations (
    from_id INTEGER NOT NULL REFERENCES objects (id),
    to_id INTEGER NOT NULL REFERENCES objects (id),
    type_id INTEGER NOT NULL,
    category TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (from_id, to_id, category, type_id)
);
"""


def now() -> str:
    return format_datetime(datetime.now(UTC))


@dataclass(frozen=True)
class StoredObject:
    id: int
    type: ObjectType
    properties: dict[str, str]
    created_at: str
    updated_at: str
    archived_at: str | None

    @property
    def schema(self) -> ObjectSchema:
        return SCHEMAS[self.type]

    def value(self, name: str) -> str | None:
        if name == "hs_object_id":
            return str(self.id)
        if name == "createdate":
            return self.created_at
        if name == self.schema.modified_property:
            return self.updated_at
        return self.properties.get(name)

    def render(self, names: Sequence[str] | None = None) -> dict[str, Any]:
        """HubSpot's record shape. `names`: None for every set property (write responses),
        empty for the type's defaults, else those asked for plus id and timestamps."""
        schema = self.schema
        if names is None:
            keys = {*self.properties, *schema.system}
        elif not names:
            keys = set(schema.defaults)
        else:
            # Like HubSpot, a read silently skips names that are not properties.
            keys = {n for n in names if n in schema.properties} | set(schema.system)
        body: dict[str, Any] = {
            "id": str(self.id),
            "properties": {k: self.value(k) for k in sorted(keys)},
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived_at is not None,
        }
        if self.archived_at is not None:
            body["archivedAt"] = self.archived_at
        return body


@dataclass(frozen=True)
class AssociationLink:
    from_id: int
    to_id: int
    type: AssociationType

    def render(self) -> dict[str, Any]:
        return {
            "from": {"id": str(self.from_id)},
            "to": {"id": str(self.to_id)},
            "associationSpec": {
                "associationCategory": HUBSPOT_DEFINED,
                "associationTypeId": self.type.type_id,
            },
        }


class CrmStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) below.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed write survives a crash of the process and of the machine.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def ping(self) -> None:
        self._db.execute("SELECT 1 FROM objects LIMIT 1").fetchall()

    def is_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM objects LIMIT 1").fetchone() is None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: everything in it is kept, or nothing is."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reads ---------------------------------------------------------------------------

    def get(
        self,
        object_type: ObjectType,
        ref: str,
        id_property: str | None = None,
        *,
        archived: bool = False,
    ) -> StoredObject:
        found = self._find(SCHEMAS[object_type], ref, id_property, archived=archived)
        if found is None:
            raise object_not_found(SCHEMAS[object_type].singular, ref, id_property)
        return found

    def list_page(
        self, object_type: ObjectType, *, after: str | None, limit: int, archived: bool
    ) -> tuple[list[StoredObject], str | None]:
        """Records in id order after the cursor: a record created meanwhile never shifts a page."""
        try:
            cursor = int(after) if after else 0
        except ValueError:
            raise validation_error(f"after must be a paging cursor, not {after!r}") from None
        rows = self._db.execute(
            f"SELECT * FROM objects WHERE object_type = ? AND {_archived_sql(archived)} AND id > ?"
            " ORDER BY id LIMIT ?",
            (object_type.value, cursor, limit + 1),
        ).fetchall()
        page = [_object(r) for r in rows[:limit]]
        return page, (str(page[-1].id) if len(rows) > limit else None)

    def batch_read(
        self,
        object_type: ObjectType,
        refs: Sequence[str],
        id_property: str | None,
        *,
        archived: bool,
    ) -> tuple[list[StoredObject], list[str]]:
        """(found, missing refs); found in the order asked, each record once."""
        _check_batch_size(len(refs))
        schema = SCHEMAS[object_type]
        found: dict[int, StoredObject] = {}
        missing: list[str] = []
        for ref in refs:
            record = self._find(schema, ref, id_property, archived=archived)
            if record is None:
                missing.append(ref)
            else:
                found.setdefault(record.id, record)
        return list(found.values()), missing

    def search(
        self, object_type: ObjectType, body: SearchInput, *, archived: bool = False
    ) -> tuple[int, list[StoredObject], str | None]:
        """(total, page, next offset); `after` is an offset into the ordered results."""
        query = compile_search(SCHEMAS[object_type], body, archived=archived)
        total = self._db.execute(
            f"SELECT COUNT(*) FROM objects WHERE {query.where}", query.params
        ).fetchone()[0]
        rows = self._db.execute(
            f"SELECT * FROM objects WHERE {query.where} ORDER BY {query.order_by} LIMIT ? OFFSET ?",
            [*query.params, query.limit, query.offset],
        ).fetchall()
        end = query.offset + len(rows)
        return total, [_object(r) for r in rows], (str(end) if end < total else None)

    # -- writes --------------------------------------------------------------------------

    def create(
        self,
        object_type: ObjectType,
        properties: Mapping[str, object],
        associations: Sequence[AssociationInput] = (),
    ) -> StoredObject:
        schema = SCHEMAS[object_type]
        changes = _validate(schema, properties)
        with self._write():
            record = self._insert(schema, changes)
            for assoc in associations:
                self._associate_on_create(record, assoc)
        return record

    def update(
        self,
        object_type: ObjectType,
        ref: str,
        properties: Mapping[str, object],
        id_property: str | None = None,
    ) -> StoredObject:
        schema = SCHEMAS[object_type]
        changes = _validate(schema, properties)
        with self._write():
            record = self._find(schema, ref, id_property, archived=False)
            if record is None:
                raise object_not_found(schema.singular, ref, id_property)
            return self._apply(record, changes)

    def archive(self, object_type: ObjectType, ref: str) -> None:
        """Idempotent, as HubSpot's DELETE: archiving a missing record is not an error."""
        schema = SCHEMAS[object_type]
        with self._write() as db:
            record = self._find(schema, ref, None, archived=False)
            if record is None:
                return
            db.execute("UPDATE objects SET archived_at = ? WHERE id = ?", (now(), record.id))
            db.execute("DELETE FROM unique_values WHERE object_id = ?", (record.id,))

    def batch_upsert(
        self, object_type: ObjectType, inputs: Sequence[UpsertInput]
    ) -> list[tuple[StoredObject, bool]]:
        """(record, created) per input, in input order; all inputs are written or none."""
        _check_batch_size(len(inputs))
        schema = SCHEMAS[object_type]
        prepared: list[tuple[PropertyDef, str, dict[str, str | None]]] = []
        seen: set[tuple[str, str]] = set()
        for index, item in enumerate(inputs):
            where = f"inputs[{index}]"
            prop = _id_property(schema, item.idProperty, upsert=True)
            try:
                key = normalize(prop, item.id)
            except PropertyValueError as err:
                issue = PropertyIssue(prop.name, err.code, err.message, item.id)
                raise property_errors([issue], prefix=f"{where}: ") from None
            changes = _validate(schema, item.properties, prefix=f"{where}: ")
            if changes.get(prop.name, key) != key:
                raise validation_error(
                    f"{where}: properties.{prop.name} differs from the id {item.id!r}", where=where
                )
            changes[prop.name] = key
            if (prop.name, key) in seen:
                raise validation_error(
                    f"Duplicate IDs found in batch input: [{item.id}]", where=where
                )
            seen.add((prop.name, key))
            prepared.append((prop, key, changes))

        results: list[tuple[StoredObject, bool]] = []
        with self._write():
            for prop, key, changes in prepared:
                existing = self._by_unique(schema, prop.name, key)
                if existing is None:
                    results.append((self._insert(schema, changes), True))
                else:
                    results.append((self._apply(existing, changes), False))
        return results

    def seed_demo(self) -> None:
        """A company and its contact, only into an empty CRM (a restart keeps what is there)."""
        if not self.is_empty():
            return
        company = self.create(
            ObjectType.COMPANIES,
            {
                "name": "Demo Trading GmbH",
                "domain": "demo-trading.example",
                "customer_id": "DEMO-1",
            },
        )
        contact = self.create(
            ObjectType.CONTACTS,
            {
                "email": "ada@demo-trading.example",
                "firstname": "Ada",
                "lastname": "Lovelace",
                "company": "Demo Trading GmbH",
                "customer_id": "DEMO-1",
            },
        )
        self.associate_default(
            ObjectType.CONTACTS, str(contact.id), ObjectType.COMPANIES, str(company.id)
        )

    # -- associations --------------------------------------------------------------------

    def associate_default(
        self, from_type: ObjectType, from_ref: str, to_type: ObjectType, to_ref: str
    ) -> list[AssociationLink]:
        """The unlabeled association both ways; doing it again changes nothing."""
        kind = DEFAULT_TYPES.get((from_type, to_type))
        if kind is None:
            raise validation_error(f"{from_type} cannot be associated with {to_type}")
        with self._write():
            source = self.get(from_type, from_ref)
            target = self.get(to_type, to_ref)
            return self._link(source.id, target.id, kind)

    def associations(
        self,
        from_type: ObjectType,
        from_ref: str,
        to_type: ObjectType,
        *,
        after: str | None = None,
        limit: int = 500,
    ) -> tuple[list[tuple[int, list[AssociationType]]], str | None]:
        """Live associated records of `to_type` in id order, each with its association types."""
        source = self.get(from_type, from_ref)
        try:
            cursor = int(after) if after else 0
        except ValueError:
            raise validation_error(f"after must be a paging cursor, not {after!r}") from None
        rows = self._db.execute(
            "SELECT a.to_id, a.type_id FROM associations a JOIN objects o ON o.id = a.to_id"
            " WHERE a.from_id = ? AND o.object_type = ? AND o.archived_at IS NULL AND a.to_id > ?"
            " ORDER BY a.to_id, a.type_id",
            (source.id, to_type.value, cursor),
        ).fetchall()
        grouped: dict[int, list[AssociationType]] = {}
        for row in rows:
            grouped.setdefault(row["to_id"], []).append(TYPES[row["type_id"]])
        items = list(grouped.items())
        page = items[:limit]
        return page, (str(page[-1][0]) if len(items) > limit else None)

    def remove_associations(
        self, from_type: ObjectType, from_ref: str, to_type: ObjectType, to_ref: str
    ) -> None:
        with self._write() as db:
            source = self.get(from_type, from_ref)
            target = self.get(to_type, to_ref)
            db.execute(
                "DELETE FROM associations WHERE (from_id = ? AND to_id = ?)"
                " OR (from_id = ? AND to_id = ?)",
                (source.id, target.id, target.id, source.id),
            )

    # -- internals -----------------------------------------------------------------------

    def _find(
        self, schema: ObjectSchema, ref: str, id_property: str | None, *, archived: bool
    ) -> StoredObject | None:
        prop = _id_property(schema, id_property or "hs_object_id", upsert=False)
        if prop.name == "hs_object_id":
            if not ref.isdigit():
                return None
            row = self._db.execute(
                "SELECT * FROM objects WHERE id = ? AND object_type = ?"
                f" AND {_archived_sql(archived)}",
                (int(ref), schema.type.value),
            ).fetchone()
            return None if row is None else _object(row)
        try:
            key = normalize(prop, ref)
        except PropertyValueError:
            return None  # no record can hold a value its property refuses
        # Archived records have given up their unique values.
        return None if archived else self._by_unique(schema, prop.name, key)

    def _by_unique(self, schema: ObjectSchema, prop: str, value: str) -> StoredObject | None:
        row = self._db.execute(
            "SELECT o.* FROM unique_values u JOIN objects o ON o.id = u.object_id"
            " WHERE u.object_type = ? AND u.property = ? AND u.value = ?",
            (schema.type.value, prop, value),
        ).fetchone()
        return None if row is None else _object(row)

    def _insert(self, schema: ObjectSchema, changes: Mapping[str, str | None]) -> StoredObject:
        props = {k: v for k, v in changes.items() if v is not None}
        self._check_unique(schema, None, props)
        stamp = now()
        cursor = self._db.execute(
            "INSERT INTO objects (object_type, properties, created_at, updated_at)"
            " VALUES (?, ?, ?, ?)",
            (schema.type.value, json.dumps(props, sort_keys=True), stamp, stamp),
        )
        assert cursor.lastrowid is not None
        self._write_unique(schema, cursor.lastrowid, {}, props)
        return StoredObject(cursor.lastrowid, schema.type, props, stamp, stamp, None)

    def _apply(self, record: StoredObject, changes: Mapping[str, str | None]) -> StoredObject:
        """Merges `changes` (None clears); a write that changes nothing keeps updatedAt."""
        props = dict(record.properties)
        for name, value in changes.items():
            if value is None:
                props.pop(name, None)
            else:
                props[name] = value
        if props == record.properties:
            return record
        schema = record.schema
        self._check_unique(schema, record.id, props)
        self._write_unique(schema, record.id, record.properties, props)
        stamp = now()
        self._db.execute(
            "UPDATE objects SET properties = ?, updated_at = ? WHERE id = ?",
            (json.dumps(props, sort_keys=True), stamp, record.id),
        )
        return StoredObject(
            record.id, record.type, props, record.created_at, stamp, record.archived_at
        )

    def _check_unique(
        self, schema: ObjectSchema, object_id: int | None, props: Mapping[str, str]
    ) -> None:
        for prop in schema.unique_properties():
            value = props.get(prop.name)
            if value is None:
                continue
            holder = self._by_unique(schema, prop.name, value)
            if holder is not None and holder.id != object_id:
                raise unique_conflict(schema.singular, prop.name, value, holder.id)

    def _write_unique(
        self,
        schema: ObjectSchema,
        object_id: int,
        old: Mapping[str, str],
        new: Mapping[str, str],
    ) -> None:
        for prop in schema.unique_properties():
            before, after = old.get(prop.name), new.get(prop.name)
            if before == after:
                continue
            if before is not None:
                self._db.execute(
                    "DELETE FROM unique_values"
                    " WHERE object_type = ? AND property = ? AND value = ?",
                    (schema.type.value, prop.name, before),
                )
            if after is not None:
                self._db.execute(
                    "INSERT INTO unique_values (object_type, property, value, object_id)"
                    " VALUES (?, ?, ?, ?)",
                    (schema.type.value, prop.name, after, object_id),
                )

    def _associate_on_create(self, record: StoredObject, assoc: AssociationInput) -> None:
        for spec in assoc.types:
            kind = TYPES.get(spec.associationTypeId)
            if spec.associationCategory != HUBSPOT_DEFINED or kind is None:
                raise validation_error(
                    f"association type {spec.associationCategory}/{spec.associationTypeId}"
                    " does not exist",
                    where="associations",
                )
            if kind.from_type is not record.type:
                raise validation_error(
                    f"association type {kind.type_id} goes from {kind.from_type},"
                    f" not from {record.type}",
                    where="associations",
                )
            target = self._find(SCHEMAS[kind.to_type], str(assoc.to.id), None, archived=False)
            if target is None:
                raise validation_error(
                    f"cannot associate with {SCHEMAS[kind.to_type].singular} {assoc.to.id}:"
                    " it does not exist",
                    where="associations",
                )
            self._link(record.id, target.id, kind)

    def _link(self, from_id: int, to_id: int, kind: AssociationType) -> list[AssociationLink]:
        stamp = now()
        inverse = TYPES[kind.inverse_id]
        links = [AssociationLink(from_id, to_id, kind), AssociationLink(to_id, from_id, inverse)]
        for link in links:
            self._db.execute(
                "INSERT OR IGNORE INTO associations (from_id, to_id, type_id, category, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (link.from_id, link.to_id, link.type.type_id, HUBSPOT_DEFINED, stamp),
            )
        return links


def _object(row: sqlite3.Row) -> StoredObject:
    return StoredObject(
        id=row["id"],
        type=ObjectType(row["object_type"]),
        properties=json.loads(row["properties"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        archived_at=row["archived_at"],
    )


def _archived_sql(archived: bool) -> str:
    return "archived_at IS NOT NULL" if archived else "archived_at IS NULL"


def _check_batch_size(size: int) -> None:
    if size > MAX_BATCH:
        raise validation_error(
            f"a batch takes at most {MAX_BATCH} inputs, not {size}", where="inputs"
        )


def _id_property(schema: ObjectSchema, name: str, *, upsert: bool) -> PropertyDef:
    prop = schema.properties.get(name)
    if prop is None:
        raise property_errors(
            [PropertyIssue(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')]
        )
    if not prop.has_unique_value or (upsert and prop.read_only):
        raise validation_error(
            f"{name} is not a unique property of {schema.type}; use one of "
            + ", ".join(p.name for p in schema.unique_properties()),
            where="idProperty",
        )
    return prop


def _validate(
    schema: ObjectSchema, properties: Mapping[str, object], *, prefix: str = ""
) -> dict[str, str | None]:
    """Stored forms of the values (None to clear); every refused value is reported at once."""
    changes: dict[str, str | None] = {}
    issues: list[PropertyIssue] = []
    for name, raw in properties.items():
        prop = schema.properties.get(name)
        text = raw_to_text(raw)
        if prop is None:
            issues.append(
                PropertyIssue(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            )
            continue
        if prop.read_only:
            issues.append(
                PropertyIssue(
                    name,
                    "READ_ONLY_VALUE",
                    f'"{name}" is a read only property; its value cannot be set',
                )
            )
            continue
        if text is None:
            changes[name] = None
            continue
        try:
            changes[name] = normalize(prop, text)
        except PropertyValueError as err:
            issues.append(PropertyIssue(name, err.code, err.message, text))
    if issues:
        raise property_errors(issues, prefix=prefix)
    return changes
