"""The custom search attributes the Web UI and the CLI filter orders by."""

from __future__ import annotations

from datetime import datetime

from temporalio.common import SearchAttributeKey

ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
ORDER_TOTAL = SearchAttributeKey.for_float("OrderTotal")
# Approvals: what waits for whom and until when (the approval inbox lists by these).
APPROVAL_ROLE = SearchAttributeKey.for_keyword("ApprovalRole")  # "" when nothing is pending
APPROVAL_ASSIGNEE = SearchAttributeKey.for_keyword("ApprovalAssignee")
APPROVAL_DEADLINE = SearchAttributeKey.for_datetime("ApprovalDeadline")  # current level's SLA end
APPROVAL_STATUS = SearchAttributeKey.for_keyword("ApprovalStatus")

ALL: list[SearchAttributeKey[str] | SearchAttributeKey[float] | SearchAttributeKey[datetime]] = [
    ORDER_ID,
    CUSTOMER_ID,
    ORDER_STATUS,
    ORDER_TOTAL,
    APPROVAL_ROLE,
    APPROVAL_ASSIGNEE,
    APPROVAL_DEADLINE,
    APPROVAL_STATUS,
]


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags that register them on `temporal server start-dev`."""
    types = {
        "KEYWORD": "Keyword",
        "DOUBLE": "Double",
        "TEXT": "Text",
        "INT": "Int",
        "DATETIME": "Datetime",
    }
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={types[key.indexed_value_type.name]}"]
    return flags
