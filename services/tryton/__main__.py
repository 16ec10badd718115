"""`python -m services.tryton setup --dir D` and `... serve --dir D --host H --port P`.

`setup` is idempotent (it skips what exists). `serve` runs Tryton's WSGI application on one
thread: on SQLite, concurrent writes on the threaded server collided. The database name is given
to Tryton up front (TRYTOND_DATABASE_NAMES), so its pool is loaded before the first request.
Neither command ever prints a secret, only where it is stored.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from services.tryton.setup import TrytonLayout, seed, setup, summary


def _serve(layout: TrytonLayout, host: str, port: int) -> int:
    if not layout.db_file.exists() or not layout.config.exists():
        print(f"no Tryton database under {layout.root}; run `setup` first", file=sys.stderr)
        return 2
    os.environ["TRYTOND_CONFIG"] = str(layout.config)
    os.environ["TRYTOND_DATABASE_NAMES"] = layout.database
    os.environ.setdefault("TRYTOND_LOGGING_LEVEL", "30")
    # Importing the application loads the pool of every database named above.
    from trytond.application import app  # type: ignore[import-untyped]
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=False, processes=1)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    for line in summary(layout):
        print(f"[tryton serve] {line}", flush=True)
    print(f"[tryton serve] listening on http://{host}:{port}/{layout.database}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.tryton", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    setup_cmd = commands.add_parser("setup", help="create and seed the database (idempotent)")
    setup_cmd.add_argument("--dir", type=Path, required=True)
    seed_cmd = commands.add_parser("seed", help="only seed an existing database (used by setup)")
    seed_cmd.add_argument("--dir", type=Path, required=True)
    serve_cmd = commands.add_parser("serve", help="serve the database single-threaded")
    serve_cmd.add_argument("--dir", type=Path, required=True)
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    layout = TrytonLayout(args.dir.resolve())
    if args.command == "setup":
        setup(layout.root)
        for line in summary(layout):
            print(f"[tryton setup] {line}", flush=True)
        return 0
    if args.command == "seed":
        seed(layout)
        return 0
    return _serve(layout, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
