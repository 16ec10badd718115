"""A real ERP for Continuum: Tryton 8.2 on SQLite, set up and served by `python -m services.tryton`.

`setup` builds a database under a directory (config file, SQLite file, modules, demo data and a
restricted API user with a REST application key); `serve` runs it single-threaded. The connector
that talks to it is `connectors.tryton.TrytonErpClient`. Tryton itself is imported lazily, so this
package imports without the optional `tryton` extra installed.
"""

from __future__ import annotations

from services.tryton.setup import (
    API_LOGIN,
    DATABASE_NAME,
    MODULES,
    ApiCredentials,
    TrytonLayout,
    setup,
)

__all__ = ["API_LOGIN", "DATABASE_NAME", "MODULES", "ApiCredentials", "TrytonLayout", "setup"]
