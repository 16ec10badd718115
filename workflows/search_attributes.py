"""Typed search-attribute keys for the workflows, built from the processes' contracts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from domain.alerts import contract as alerts
    from domain.approvals import contract as approvals
    from domain.orders import contract as orders
    from domain.purchasing import contract as purchasing
    from domain.visibility import PROCESS_STATUS as _PROCESS_STATUS
    from domain.visibility import STATE_SINCE as _STATE_SINCE
    from domain.visibility import Kind, SearchAttribute


def _key(attr: SearchAttribute, kind: Kind) -> str:
    if attr.kind is not kind:
        raise TypeError(f"{attr.name} is a {attr.kind} in its contract, not a {kind}")
    return attr.name


def _keyword(attr: SearchAttribute) -> SearchAttributeKey[str]:
    return SearchAttributeKey.for_keyword(_key(attr, Kind.KEYWORD))


ORDER_ID = _keyword(orders.ORDER_ID)
CUSTOMER_ID = _keyword(orders.CUSTOMER_ID)
ORDER_STATUS = _keyword(orders.ORDER_STATUS)
ORDER_TOTAL = SearchAttributeKey.for_float(_key(orders.ORDER_TOTAL, Kind.DOUBLE))
APPROVAL_ROLE = _keyword(approvals.APPROVAL_ROLE)
APPROVAL_ASSIGNEE = _keyword(approvals.APPROVAL_ASSIGNEE)
APPROVAL_STATUS = _keyword(approvals.APPROVAL_STATUS)
APPROVAL_DEADLINE: SearchAttributeKey[datetime] = SearchAttributeKey.for_datetime(
    _key(approvals.APPROVAL_DEADLINE, Kind.DATETIME)
)
PROCESS_STATUS = _keyword(_PROCESS_STATUS)
ALERT_SEVERITY = _keyword(alerts.ALERT_SEVERITY)
ALERT_RULE = _keyword(alerts.ALERT_RULE)
PURCHASE_KEYS: SearchAttributeKey[Sequence[str]] = SearchAttributeKey.for_keyword_list(
    _key(purchasing.PURCHASE_KEYS, Kind.KEYWORD_LIST)
)
PURCHASE_TOTAL = SearchAttributeKey.for_float(_key(purchasing.PURCHASE_TOTAL, Kind.DOUBLE))
STATE_SINCE: SearchAttributeKey[datetime] = SearchAttributeKey.for_datetime(
    _key(_STATE_SINCE, Kind.DATETIME)
)

# Orders, approvals and the sync started before this patch do not write StateSince/ProcessStatus.
STATE_SINCE_PATCH = "state-since"


def state_since() -> list[SearchAttributeUpdate[Any]]:
    """StateSince = now, for a status change (empty for a run started before the patch)."""
    if not workflow.patched(STATE_SINCE_PATCH):
        return []
    return [STATE_SINCE.value_set(workflow.now())]
