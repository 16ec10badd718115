"""The gateway's webhook receipts: claimed before an event goes to Temporal, accepted after.
They live in the store (`store.receipts`), shared by every gateway replica."""

from store.receipts import LEASE_SECONDS, Claim, ClaimState, Receipts

__all__ = ["LEASE_SECONDS", "Claim", "ClaimState", "Receipts"]
