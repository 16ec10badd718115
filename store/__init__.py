"""Continuum's own state beside Temporal: the sync's watermarks, quarantine and drift, and the
gateway's webhook receipts, in one database (SQLite by default, PostgreSQL in production).

A layer of its own: it imports only `domain` and its libraries (SQLAlchemy Core, Alembic);
activities, services, starters, workers and the kernel use it.
"""

from store.database import (
    Store,
    StoreError,
    StoreTooNew,
    StoreUnreachable,
    sqlite_url,
)

__all__ = ["Store", "StoreError", "StoreTooNew", "StoreUnreachable", "sqlite_url"]
