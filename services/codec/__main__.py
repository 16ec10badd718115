"""`python -m services.codec --host H --port P --ui-origin URL [--ui-origin URL ...]`.

Keys as everywhere (`continuum.codec`: CONTINUUM_CODEC_KEYS, CONTINUUM_CODEC_KEY_FILE, or
.data/codec-keys.json); CODEC_ENDPOINT_TOKEN, when set, is the bearer token callers must send;
CODEC_CORS_ORIGINS (comma-separated) adds allowed origins; CODEC_ALLOWED_HOSTS (comma-separated)
adds host names it answers to besides 127.0.0.1 and localhost (e.g. its name behind a proxy).
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from continuum.codec import CodecError, load_keyring
from continuum.logs import setup_logging
from continuum.telemetry import instrument_app
from services.codec.app import CodecConfig, create_app


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.codec", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8234)
    parser.add_argument(
        "--ui-origin", action="append", default=[], help="an origin the Web UI is served from"
    )
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    setup_logging(args.log_level)
    extra = [o.strip() for o in os.environ.get("CODEC_CORS_ORIGINS", "").split(",") if o.strip()]
    origins = [*args.ui_origin, *extra]
    if not origins:
        print("services.codec: no --ui-origin nor CODEC_CORS_ORIGINS; refusing", file=sys.stderr)
        return 2
    try:
        keyring = load_keyring()
    except CodecError as err:
        print(f"services.codec: {err}", file=sys.stderr)
        return 2
    if not keyring.keys:
        print("services.codec: no codec keys configured; refusing to start", file=sys.stderr)
        return 2
    hosts = [h.strip() for h in os.environ.get("CODEC_ALLOWED_HOSTS", "").split(",") if h.strip()]
    config = CodecConfig(
        keyring=keyring,
        origins=origins,
        hosts=["127.0.0.1", "localhost", *hosts],
        token=os.environ.get("CODEC_ENDPOINT_TOKEN") or None,
        reload=load_keyring,
    )
    app = instrument_app(create_app(config), "codec")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
