"""The incident console's `--where`: business terms compiled to a Temporal visibility query, plus
the conditions only a process's description can answer (its failing step, attempt, error).

    type=order status=Checking|Processing customer=C-100 step=check_credit error~503
    attempt>=3 age>2h since>30m total>1000 alert=alert-erp-down-1a2b retrying running

Terms are joined by spaces, commas or `and`; a value with spaces is quoted ("..." or '...');
`a|b` is any of them. An unknown field, operator or value is a `QueryError`: one line that says
what is wrong and what would be right. Pure: the caller passes the clock (`now`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain import durations
from domain.alerts import contract as alerts
from domain.approvals import contract as approvals
from domain.approvals.models import ApprovalStatus
from domain.durations import DurationError
from domain.incidents import contract as incidents
from domain.incidents.findings import PendingStep
from domain.incidents.observed import Execution
from domain.orders import contract as orders
from domain.orders.models import OrderStatus
from domain.sync import contract as sync
from domain.visibility import PROCESS_STATUS, STATE_SINCE


class QueryError(ValueError):
    """The `--where` cannot be used; the message is one line."""


# Process kinds by their business name; a workflow type's own name is accepted too.
PROCESS_TYPES = {
    "order": orders.WORKFLOW_NAME,
    "approval": approvals.WORKFLOW_NAME,
    "sync": sync.WORKFLOW_NAME,
    "reconcile": sync.RECONCILE_WORKFLOW,
    "redrive": sync.REDRIVE_WORKFLOW,
    "alert": alerts.WORKFLOW_NAME,
    "repair": incidents.WORKFLOW_NAME,
}
# Which search attribute holds a kind's business status (the rest use ProcessStatus).
_STATUS_ATTRIBUTE = {
    orders.WORKFLOW_NAME: orders.ORDER_STATUS.name,
    approvals.WORKFLOW_NAME: approvals.APPROVAL_STATUS.name,
}
_KNOWN_STATUSES: dict[str, list[str]] = {
    orders.WORKFLOW_NAME: [s.value for s in OrderStatus],
    approvals.WORKFLOW_NAME: [s.value for s in ApprovalStatus],
    alerts.WORKFLOW_NAME: [s.value for s in alerts.AlertStatus],
}
EXECUTION_STATUSES = {e.value.lower(): e.value for e in Execution}
EXECUTION_STATUSES["cancelled"] = "Canceled"  # the business spelling, Temporal's value

EQUALITY = ("=", "!=")
ORDERING = (">", ">=", "<", "<=")


@dataclass(frozen=True)
class Field:
    help: str
    ops: tuple[str, ...]


FIELDS: dict[str, Field] = {
    "type": Field("process kind: " + ", ".join(PROCESS_TYPES), EQUALITY),
    "status": Field("business status, e.g. Checking, NeedsAttention, Pending", EQUALITY),
    "execution": Field("Temporal's: running, failed, completed, terminated, ...", EQUALITY),
    "customer": Field("customer id", EQUALITY),
    "order": Field("order id", EQUALITY),
    "id": Field("workflow id (~ for a prefix)", (*EQUALITY, "~")),
    "step": Field("the step (activity) it waits on", EQUALITY),
    "error": Field("last failure message or type (~ contains)", (*EQUALITY, "~")),
    "attempt": Field("the step's attempt", (*EQUALITY, *ORDERING)),
    "age": Field("time since it started, e.g. age>2h", ORDERING),
    "since": Field("time in its current state (StateSince), e.g. since>30m", ORDERING),
    "total": Field("order total", (*EQUALITY, *ORDERING)),
    "alert": Field("an alert's id: its runbook's terms", ("=",)),
}
ALIASES = {
    "process": "type",
    "state-since": "since",
    "customer_id": "customer",
    "alert_id": "alert",
}
FLAGS = {
    "retrying": ("attempt", ">=", "2"),
    "running": ("execution", "=", "running"),
    "failed": ("execution", "=", "failed"),
}


@dataclass(frozen=True)
class Term:
    field: str
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Condition:
    """A term visibility cannot answer, checked against each pending step."""

    field: str  # step, error, attempt
    op: str
    values: tuple[str, ...]

    def holds(self, step: PendingStep) -> bool:
        if self.field == "attempt":
            return _compare(step.attempt, self.op, int(self.values[0]))
        if self.field == "step":
            found = step.name in self.values
        else:  # error
            texts = [t for t in (step.last_failure, step.failure_type) if t]
            if self.op == "~":
                return any(v.lower() in t.lower() for v in self.values for t in texts)
            found = any(t in self.values for t in texts)
        return found if self.op == "=" else not found


@dataclass(frozen=True)
class Search:
    where: str  # as the operator typed it
    query: str  # the visibility query
    conditions: tuple[Condition, ...] = ()
    alert: str | None = None  # an alert id whose runbook still has to be joined in

    def matches(self, steps: Sequence[PendingStep]) -> bool:
        """A process matches when one of its pending steps meets every step condition (a
        process waiting on nothing matches only when there are none)."""
        if not self.conditions:
            return True
        return any(all(c.holds(s) for c in self.conditions) for s in steps)

    def joined(self, runbook: Search) -> Search:
        """This search narrowed by an alert's runbook search."""
        return Search(
            where=self.where,
            query=f"({self.query}) AND ({runbook.query})" if self.query else runbook.query,
            conditions=self.conditions + runbook.conditions,
        )


def _compare(left: float, op: str, right: float) -> bool:
    return {
        "=": left == right,
        "!=": left != right,
        ">": left > right,
        ">=": left >= right,
        "<": left < right,
        "<=": left <= right,
    }[op]


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<sep>,|\band\b|\bAND\b)
      | (?P<field>[A-Za-z][\w-]*)\s*(?P<op>!=|>=|<=|=|~|>|<)\s*
        (?P<value>"[^"]*"|'[^']*'|[^\s,"']+)
      | (?P<flag>[A-Za-z][\w-]*)
    )\s*""",
    re.VERBOSE,
)
_UNSAFE = re.compile(r"['\"\\\x00-\x1f]")


def parse_duration(text: str) -> timedelta:
    """`90s`, `5m`, `2h`, `1d`, `1h30m`: the grammar every duration people type shares."""
    try:
        return durations.parse_duration(text)
    except DurationError as err:
        raise QueryError(str(err)) from None


def _fields_help() -> str:
    return ", ".join([*FIELDS, *FLAGS])


def parse(where: str) -> list[Term]:
    text, at, terms = where.strip(), 0, []
    if not text:
        raise QueryError('--where is empty: say what to find, e.g. "type=order retrying"')
    while at < len(text):
        token = _TOKEN.match(text, at)
        if token is None or token.end() == at:
            raise QueryError(
                f"cannot read --where at {text[at : at + 20]!r}: write field=value terms"
            )
        at = token.end()
        if token["sep"]:
            continue
        if token["flag"]:
            name = token["flag"].lower()
            if ALIASES.get(name, name) in FIELDS:
                dangling = re.match(r"!=|>=|<=|=|~|>|<", text[at:])
                raise QueryError(
                    f"{name}{dangling.group()} needs a value"
                    if dangling
                    else f"{name!r} needs an operator and a value, e.g. {name}=..."
                )
            if name not in FLAGS:
                raise QueryError(
                    f"unknown field {token['flag']!r} in --where (known: {_fields_help()})"
                )
            terms.append(Term(FLAGS[name][0], FLAGS[name][1], (FLAGS[name][2],)))
            continue
        name = token["field"].lower()
        name = ALIASES.get(name, name)
        if name not in FIELDS:
            raise QueryError(
                f"unknown field {token['field']!r} in --where (known: {_fields_help()})"
            )
        op = token["op"]
        if op not in FIELDS[name].ops:
            raise QueryError(
                f"{name!r} takes {' '.join(FIELDS[name].ops)}, not {op!r}"
                f" ({name}: {FIELDS[name].help})"
            )
        raw = token["value"]
        value = raw[1:-1] if raw[0] in "\"'" else raw
        values = tuple(v.strip() for v in value.split("|"))
        if not all(values):
            raise QueryError(f"{name}{op} needs a value")
        if len(values) > 1 and op not in EQUALITY:
            raise QueryError(f"a|b lists are for = and != only, not {name}{op}")
        terms.append(Term(name, op, values))
    return terms


def _literal(field_name: str, value: str) -> str:
    if _UNSAFE.search(value):
        raise QueryError(f"{field_name} value {value!r} may not hold quotes or control characters")
    return f"'{value}'"


def _in(attribute: str, op: str, values: Sequence[str], field_name: str) -> str:
    literals = [_literal(field_name, v) for v in values]
    if len(literals) == 1:
        return f"{attribute} {op} {literals[0]}"
    return f"{attribute} {'NOT IN' if op == '!=' else 'IN'} ({', '.join(literals)})"


def _process_type(value: str) -> str:
    if value.lower() in PROCESS_TYPES:
        return PROCESS_TYPES[value.lower()]
    if value in PROCESS_TYPES.values() or re.fullmatch(r"[A-Z][A-Za-z0-9]+", value):
        return value  # a workflow type's own name (Temporal's CamelCase)
    raise QueryError(f"unknown process type {value!r} (known: {', '.join(PROCESS_TYPES)})")


def _statuses(value: str, types: Sequence[str]) -> str:
    """The status as its kind spells it (`needsattention` → NeedsAttention), checked against the
    kinds asked for when they have a fixed list."""
    known = [s for t in types or _KNOWN_STATUSES for s in _KNOWN_STATUSES.get(t, [])]
    for status in known:
        if status.lower() == value.lower():
            return status
    fixed = [t for t in types if t in _KNOWN_STATUSES]
    if fixed and len(fixed) == len(types):
        names = ", ".join(dict.fromkeys(s for t in fixed for s in _KNOWN_STATUSES[t]))
        raise QueryError(f"unknown status {value!r} for {', '.join(fixed)} (known: {names})")
    return value


def _status_clause(term: Term, types: Sequence[str]) -> str:
    values = [_statuses(v, types) for v in term.values]
    attributes = (
        list(dict.fromkeys(_STATUS_ATTRIBUTE.get(t, PROCESS_STATUS.name) for t in types))
        if types
        else [orders.ORDER_STATUS.name, approvals.APPROVAL_STATUS.name, PROCESS_STATUS.name]
    )
    clauses = [_in(a, term.op, values, "status") for a in attributes]
    if len(clauses) == 1:
        return clauses[0]
    return "(" + (" AND " if term.op == "!=" else " OR ").join(clauses) + ")"


def _moment(value: datetime) -> str:
    return f"'{value.isoformat(timespec='seconds').replace('+00:00', 'Z')}'"


def _ago_clause(attribute: str, term: Term, now: datetime) -> str:
    """`age>2h` (older than two hours) is `StartTime < now - 2h`: the comparison flips."""
    moment = now - parse_duration(term.values[0])
    flipped = {">": "<", ">=": "<=", "<": ">", "<=": ">="}[term.op]
    return f"{attribute} {flipped} {_moment(moment)}"


def compile_where(where: str, now: datetime) -> Search:
    """The operator's terms as a visibility query and the step conditions; `now` anchors ages."""
    terms = parse(where)
    # The kinds asked for (`type=`): their status attribute and their statuses.
    types = [_process_type(v) for t in terms if t.field == "type" and t.op == "=" for v in t.values]
    alert_ids = [v for t in terms if t.field == "alert" for v in t.values]
    if len(alert_ids) > 1:
        raise QueryError("one alert at a time in --where")
    clauses: list[str] = []
    conditions: list[Condition] = []
    for term in terms:
        if term.field == "type":
            names = [_process_type(v) for v in term.values]
            clauses.append(_in("WorkflowType", term.op, names, "type"))
        elif term.field == "status":
            clauses.append(_status_clause(term, types))
        elif term.field == "execution":
            names = []
            for v in term.values:
                if v.lower() not in EXECUTION_STATUSES:
                    known = ", ".join(sorted(EXECUTION_STATUSES))
                    raise QueryError(f"unknown execution status {v!r} (known: {known})")
                names.append(EXECUTION_STATUSES[v.lower()])
            clauses.append(_in("ExecutionStatus", term.op, names, "execution"))
        elif term.field == "customer":
            clauses.append(_in(orders.CUSTOMER_ID.name, term.op, term.values, "customer"))
        elif term.field == "order":
            clauses.append(_in(orders.ORDER_ID.name, term.op, term.values, "order"))
        elif term.field == "id":
            if term.op == "~":
                clauses.append(f"WorkflowId STARTS_WITH {_literal('id', term.values[0])}")
            else:
                clauses.append(_in("WorkflowId", term.op, term.values, "id"))
        elif term.field in ("age", "since"):
            attribute = "StartTime" if term.field == "age" else STATE_SINCE.name
            clauses.append(_ago_clause(attribute, term, now))
        elif term.field == "total":
            try:
                amount = float(term.values[0])
            except ValueError:
                raise QueryError(f"total takes a number, not {term.values[0]!r}") from None
            clauses.append(f"{orders.ORDER_TOTAL.name} {term.op} {amount}")
        elif term.field == "attempt":
            if not term.values[0].isdigit():
                raise QueryError(f"attempt takes a whole number, not {term.values[0]!r}")
            conditions.append(Condition("attempt", term.op, term.values))
        elif term.field in ("step", "error"):
            conditions.append(Condition(term.field, term.op, term.values))
    if conditions and not any(t.field == "execution" for t in terms):
        # Only a running process waits on a step: visibility narrows the list first.
        clauses.insert(0, "ExecutionStatus = 'Running'")
    alert = None
    if alert_ids:
        alert = alert_ids[0] if alert_ids[0].startswith("alert-") else f"alert-{alert_ids[0]}"
    return Search(where, " AND ".join(clauses), tuple(conditions), alert)


_RUNBOOK_WHERE = re.compile(r"""--where[ =](?:"([^"]*)"|'([^']*)'|(\S+))""")


def runbook_where(runbook: str) -> str:
    """The terms in an alert's runbook: `plan retry --where "EXPR"` or the bare terms."""
    found = _RUNBOOK_WHERE.search(runbook)
    if found:
        return next(g for g in found.groups() if g is not None)
    return runbook.strip()


def compile_runbook(alert_id: str, runbook: str, now: datetime) -> Search:
    where = runbook_where(runbook)
    if not where:
        raise QueryError(f"alert {alert_id} has no runbook terms to find by")
    try:
        search = compile_where(where, now)
    except QueryError as err:
        raise QueryError(f"alert {alert_id}'s runbook: {err}") from None
    if search.alert is not None:
        raise QueryError(f"alert {alert_id}'s runbook names another alert")
    return search
