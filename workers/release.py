"""`python -m workers.release check|patches`: the replays behind `continuum release check` and
`continuum release patches`, run with the workflows this worker registers (the working tree's
code). The CLI may not import workflows, so it runs this and reads its JSON from stdout.

Payloads are decrypted in memory with the keys the environment configures (continuum.codec);
nothing is written to disk. A failure to start is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from continuum.client import connect
from continuum.codec import CodecError
from continuum.converter import data_converter
from continuum.release.check import check
from continuum.release.histories import Sample
from continuum.release.patches import PatchList, patch_lifecycle
from workers.events import EVENT_WORKFLOWS
from workers.ops import OPS_WORKFLOWS
from workers.registry import WORKFLOWS

# Everything the working tree runs: the business, ops and events workers' processes.
ALL_WORKFLOWS = [*WORKFLOWS, *OPS_WORKFLOWS, *EVENT_WORKFLOWS]


async def _run(command: str, sample: Sample) -> BaseModel:
    # The replayer reads every payload, encrypted or from before encryption: never strict.
    converter = data_converter()
    client = await connect(converter=converter)
    now = datetime.now(UTC)
    if command == "check":
        return await check(client, ALL_WORKFLOWS, converter, sample, now)
    return PatchList(patches=await patch_lifecycle(client, ALL_WORKFLOWS, converter, sample, now))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers.release")
    parser.add_argument("command", choices=["check", "patches"])
    parser.add_argument("--running", type=int, default=1000, help="per workflow type")
    parser.add_argument("--closed", type=int, default=20, help="per workflow type")
    parser.add_argument("--closed-days", type=float, default=7.0)
    args = parser.parse_args(argv)
    # The SDK core logs each failing replay as a warning; the report says it in words.
    logging.basicConfig(level=logging.ERROR)
    sample = Sample(args.running, args.closed, timedelta(days=args.closed_days))
    try:
        report = asyncio.run(_run(args.command, sample))
    except CodecError as err:
        print(f"cannot read the payloads: {err}", file=sys.stderr)
        sys.exit(2)
    except RuntimeError as err:
        if "Failed client connect" not in str(err):
            raise
        print(f"cannot reach Temporal: {err}", file=sys.stderr)
        sys.exit(2)
    print(report.model_dump_json(), flush=True)
    # Leaving through the interpreter's finalisation while the SDK's core threads still hold a
    # client and a replayer can abort the process ("PyGILState_Release", see NOTES): the report
    # is out, so leave at once.
    os._exit(0)


if __name__ == "__main__":
    main()
