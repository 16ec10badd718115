"""`python -m services.erp --host H --port P --db PATH --seed {none,demo} [--faults JSON]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from continuum.redaction import install_redaction
from continuum.telemetry import instrument_app
from services.erp.app import ErpConfig, create_app
from services.faults import parse_faults


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.erp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--db", type=Path, default=Path(".data/erp.db"), help="SQLite file")
    parser.add_argument("--seed", choices=["none", "demo"], default="none")
    parser.add_argument("--faults", default=None, help="FaultConfig JSON; else env FAULTS")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    token = os.environ.get("ERP_API_TOKEN", "")
    if not token:
        print("services.erp: ERP_API_TOKEN is not set; refusing to start", file=sys.stderr)
        return 2
    try:
        faults = parse_faults(args.faults or os.environ.get("FAULTS"))
    except (ValueError, ValidationError) as err:
        first = str(err).splitlines()[0]
        print(f"services.erp: --faults/FAULTS is not valid: {first}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    install_redaction()
    config = ErpConfig(
        db_path=args.db,
        api_token=token,
        admin_token=os.environ.get("ERP_ADMIN_TOKEN") or None,
        seed=args.seed,
        faults=faults,
    )
    app = create_app(config)
    # Server spans continuing the caller's W3C trace, when this process exports them.
    instrument_app(app, "erp", calls_out=False)
    # One worker: the store's lock is what serializes writes, so it must be one process.
    # A short graceful shutdown, so that a hung (fault-injected) request cannot hold a stop.
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
