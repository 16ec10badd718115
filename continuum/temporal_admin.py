"""Register the project's search attributes on a server that lacks them (idempotent)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from continuum.search_attributes import ALL

_TYPES = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "DOUBLE": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "TEXT": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "KEYWORD_LIST": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


async def ensure_search_attributes(client: Client) -> list[str]:
    """Adds the missing ones and returns their names."""
    existing: set[str] = set()
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as err:
        # The time-skipping test server can add search attributes but not list them.
        if err.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
    missing = {
        key.name: _TYPES[key.indexed_value_type.name] for key in ALL if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)
