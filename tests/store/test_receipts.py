"""The gateway's webhook receipts in the store, on SQLite and PostgreSQL: claimed once,
replays seen, a released claim retried, a dead claimant's claim taken over; and two gateways
racing for the same event: exactly one of them processes it."""

from __future__ import annotations

import threading
from collections import Counter

from store import Store
from store.receipts import ClaimState, Receipts

NOW = 1_800_000_000.0


def test_receipts_claim_once_then_replays_are_seen(store: Store, database_url: str) -> None:
    receipts = Receipts(store, lease=60)
    first = receipts.claim("carrier", "E-1", "shipment-delivered", "order-O-1", NOW)
    assert first.state is ClaimState.CLAIMED
    again = receipts.claim("carrier", "E-1", "shipment-delivered", "order-O-1", NOW + 1)
    assert again.state is ClaimState.IN_FLIGHT
    other = receipts.claim("shop", "E-1", "order-cancelled", "order-O-1", NOW)
    assert other.state is ClaimState.CLAIMED  # the key is (source, event id)
    receipts.accept("carrier", "E-1", NOW + 2)
    replay = receipts.claim("carrier", "E-1", "shipment-delivered", "order-O-1", NOW + 3)
    assert (replay.state, replay.accepted_at) == (ClaimState.ACCEPTED, NOW + 2)
    receipts.release("shop", "E-1")
    retry = receipts.claim("shop", "E-1", "order-cancelled", "order-O-1", NOW + 4)
    assert retry.state is ClaimState.CLAIMED
    late = receipts.claim("shop", "E-1", "order-cancelled", "order-O-1", NOW + 65)
    assert late.state is ClaimState.CLAIMED  # the claimant died: its lease ran out

    # Accepted receipts survive a restart (another process opening the same database).
    reopened = Receipts(database_url)
    try:
        replay = reopened.claim("carrier", "E-1", "shipment-delivered", "order-O-1", NOW + 9)
        assert replay.state is ClaimState.ACCEPTED
        reopened.ping()
    finally:
        reopened.close()


def test_two_gateways_racing_for_an_event_record_it_once(database_url: str) -> None:
    """Two gateways (two stores, two connection pools), four requests each, all let go at
    once for each of 30 events: one request claims each event, the seven others are told
    it is in flight; a takeover after the lease is won by one of them too."""
    gateways = [Receipts(Store(database_url), lease=60) for _ in range(2)]
    outcomes: dict[str, Counter[ClaimState]] = {}
    takeovers: dict[str, Counter[ClaimState]] = {}

    def race(event_id: str, at: float, into: dict[str, Counter[ClaimState]]) -> None:
        start = threading.Barrier(8)
        found: Counter[ClaimState] = Counter()
        lock = threading.Lock()

        def request(receipts: Receipts) -> None:
            start.wait()
            claim = receipts.claim("carrier", event_id, "shipment-delivered", "order-O-1", at)
            with lock:
                found[claim.state] += 1

        threads = [threading.Thread(target=request, args=(g,)) for g in gateways for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        into[event_id] = found

    try:
        for n in range(30):
            race(f"E-{n}", NOW, outcomes)
        for n in range(10):
            race(f"E-{n}", NOW + 61, takeovers)  # every claimant died
        expected = Counter({ClaimState.CLAIMED: 1, ClaimState.IN_FLIGHT: 7})
        assert all(found == expected for found in outcomes.values()), outcomes
        assert all(found == expected for found in takeovers.values()), takeovers
    finally:
        for g in gateways:
            g.store.close()


def test_accepted_receipts_older_than_the_retention_are_forgotten(store: Store) -> None:
    receipts = Receipts(store, lease=60)
    for n, at in enumerate([NOW, NOW + 10, NOW + 20]):
        receipts.claim("carrier", f"E-{n}", "shipment-delivered", "order-O-1", at)
        receipts.accept("carrier", f"E-{n}", at)
    receipts.claim("carrier", "E-pending", "shipment-delivered", "order-O-1", NOW)
    assert receipts.forget_accepted_before(NOW + 15) == 2
    assert receipts.claim("carrier", "E-2", "x", "order-O-1", NOW + 30).state is ClaimState.ACCEPTED
    assert receipts.claim("carrier", "E-pending", "x", "order-O-1", NOW + 1).state is (
        ClaimState.IN_FLIGHT
    )  # a claim in flight is never forgotten
