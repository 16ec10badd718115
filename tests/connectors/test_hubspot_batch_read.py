"""HubSpotCrmClient.batch_read against the reference CRM as a real process: what the sync's
reconciliation reads back (by the unique business id, in chunks, missing ids left out)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.hubspot import HubSpotCrmClient
from domain.crm import CrmUpsert
from tests.conftest import ServiceHandle


@pytest.fixture
async def crm(crm_service: ServiceHandle) -> AsyncIterator[HubSpotCrmClient]:
    client = HubSpotCrmClient(crm_service.url, crm_service.api_token, timeout=10.0)
    yield client
    await client.aclose()


async def test_batch_read_by_id_property_across_chunks_leaves_missing_ids_out(
    crm: HubSpotCrmClient,
) -> None:
    deals = [
        CrmUpsert(id=f"O-{n:04d}", properties={"dealname": f"Order {n}", "amount": f"{n}.50"})
        for n in range(150)
    ]
    await crm.batch_upsert("deals", "order_id", deals)

    ids = [f"O-{n:04d}" for n in range(0, 150, 3)] + ["O-9999", "O-0003"]
    found = await crm.batch_read("deals", "order_id", ids, ["order_id", "amount"])

    by_id = {r.properties["order_id"] or "": r for r in found}
    assert sorted(by_id) == sorted({i for i in ids if i != "O-9999"})  # once each
    assert len(found) == 50
    assert by_id["O-0099"].properties["amount"] == "99.50"
    assert await crm.batch_read("deals", "order_id", [], ["amount"]) == []
