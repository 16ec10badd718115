"""The custom search attributes, typed for clients, the stack and the namespace set-up.

Names and kinds come from each process's contract in `domain` (the workflows build their own
typed keys from the same names in `workflows.search_attributes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from temporalio.common import SearchAttributeKey

from domain.alerts import contract as alerts
from domain.approvals import contract as approvals
from domain.orders import contract as orders
from domain.purchasing import contract as purchasing
from domain.visibility import PROCESS_STATUS as _PROCESS_STATUS
from domain.visibility import STATE_SINCE as _STATE_SINCE
from domain.visibility import Kind, SearchAttribute

CONTRACTS: list[SearchAttribute] = [
    *orders.SEARCH_ATTRIBUTES,
    *approvals.SEARCH_ATTRIBUTES,
    *alerts.SEARCH_ATTRIBUTES,
    *purchasing.SEARCH_ATTRIBUTES,
    _PROCESS_STATUS,
    _STATE_SINCE,
]

ORDER_ID = SearchAttributeKey.for_keyword(orders.ORDER_ID.name)
CUSTOMER_ID = SearchAttributeKey.for_keyword(orders.CUSTOMER_ID.name)
ORDER_STATUS = SearchAttributeKey.for_keyword(orders.ORDER_STATUS.name)
ORDER_TOTAL = SearchAttributeKey.for_float(orders.ORDER_TOTAL.name)
APPROVAL_ROLE = SearchAttributeKey.for_keyword(approvals.APPROVAL_ROLE.name)
APPROVAL_ASSIGNEE = SearchAttributeKey.for_keyword(approvals.APPROVAL_ASSIGNEE.name)
APPROVAL_DEADLINE = SearchAttributeKey.for_datetime(approvals.APPROVAL_DEADLINE.name)
APPROVAL_STATUS = SearchAttributeKey.for_keyword(approvals.APPROVAL_STATUS.name)
PROCESS_STATUS = SearchAttributeKey.for_keyword(_PROCESS_STATUS.name)
ALERT_SEVERITY = SearchAttributeKey.for_keyword(alerts.ALERT_SEVERITY.name)
ALERT_RULE = SearchAttributeKey.for_keyword(alerts.ALERT_RULE.name)
STATE_SINCE = SearchAttributeKey.for_datetime(_STATE_SINCE.name)
PURCHASE_KEYS = SearchAttributeKey.for_keyword_list(purchasing.PURCHASE_KEYS.name)
PURCHASE_TOTAL = SearchAttributeKey.for_float(purchasing.PURCHASE_TOTAL.name)

ALL: list[
    SearchAttributeKey[str]
    | SearchAttributeKey[float]
    | SearchAttributeKey[datetime]
    | SearchAttributeKey[Sequence[str]]
] = [
    ORDER_ID,
    CUSTOMER_ID,
    ORDER_STATUS,
    ORDER_TOTAL,
    APPROVAL_ROLE,
    APPROVAL_ASSIGNEE,
    APPROVAL_DEADLINE,
    APPROVAL_STATUS,
    PROCESS_STATUS,
    ALERT_SEVERITY,
    ALERT_RULE,
    STATE_SINCE,
    PURCHASE_KEYS,
    PURCHASE_TOTAL,
]


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags that register them on `temporal server start-dev`."""
    flags: list[str] = []
    for attr in CONTRACTS:
        flags += ["--search-attribute", f"{attr.name}={attr.kind.value}"]
    return flags


def _check() -> None:
    """Every contract's attribute has its typed key here, of the kind the contract says."""
    kinds = {
        "KEYWORD": Kind.KEYWORD,
        "DOUBLE": Kind.DOUBLE,
        "DATETIME": Kind.DATETIME,
        "KEYWORD_LIST": Kind.KEYWORD_LIST,
    }
    typed = {k.name: kinds[k.indexed_value_type.name] for k in ALL}
    declared = {a.name: a.kind for a in CONTRACTS}
    if typed != declared:
        raise RuntimeError(f"search attribute keys {typed} disagree with the contracts {declared}")


_check()
