"""Today's store modules, verbatim (`git show 8779d37:connectors/sync_store.py` and
`git show 8779d37:services/gateway/receipts.py`): the upgrade tests write `sync.db` and
`gateway.db` with them, exactly as a user's checkout and gateway wrote them. Never edit them."""
