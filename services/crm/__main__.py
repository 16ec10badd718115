"""`python -m services.crm --host H --port P --db PATH --seed {none,demo} [--faults JSON]
[--rate-limit N/SECONDS]`: the reference CRM as one uvicorn process.

CRM_API_TOKEN (required) is the bearer token of `/crm/...`; CRM_ADMIN_TOKEN guards `/admin/...`.
FAULTS and CRM_RATE_LIMIT stand in for `--faults` and `--rate-limit` when those are not given.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from continuum.redaction import install_redaction
from continuum.telemetry import instrument_app
from services.crm.access import RateLimit
from services.crm.app import create_app
from services.crm.store import CrmStore
from services.faults import parse_faults


def _rate_limit(text: str) -> RateLimit:
    try:
        return RateLimit.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.crm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--db", type=Path, default=Path(".data/crm.db"), help="SQLite file")
    parser.add_argument(
        "--seed",
        choices=("none", "demo"),
        default="none",
        help="demo: add a company and its contact when the CRM is empty",
    )
    parser.add_argument("--faults", help='fault injection as JSON, e.g. {"error_rate": 0.2}')
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        help="at most N requests per token in any SECONDS window, e.g. 100/10; off by default",
    )
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    api_token = os.environ.get("CRM_API_TOKEN", "").strip()
    if not api_token:
        print(
            "services.crm: CRM_API_TOKEN is not set; set it to the bearer token clients must send",
            file=sys.stderr,
        )
        return 2
    rate_limit: RateLimit | None = args.rate_limit
    if rate_limit is None and os.environ.get("CRM_RATE_LIMIT"):
        rate_limit = _rate_limit(os.environ["CRM_RATE_LIMIT"])
    try:
        faults = parse_faults(args.faults or os.environ.get("FAULTS"))
    except ValueError as err:  # also json's and pydantic's errors
        parser.error(f"--faults: {err}")

    store = CrmStore(args.db)
    if args.seed == "demo":
        store.seed_demo()
    app = create_app(
        store,
        api_token=api_token,
        admin_token=os.environ.get("CRM_ADMIN_TOKEN") or None,
        faults=faults,
        rate_limit=rate_limit,
    )
    # Server spans continuing the caller's W3C trace, when this process exports them.
    instrument_app(app, "crm", calls_out=False)
    install_redaction()  # uvicorn's log lines too: no token, no e-mail address
    # Short graceful shutdown: a request hung by fault injection must not hold a stop for long.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        log_level=args.log_level,
        timeout_graceful_shutdown=3,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
