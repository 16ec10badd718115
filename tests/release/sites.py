"""Where a patch call sits in the working tree, found by its text (a line number in a test would
break whenever code above it moves)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parents[2]


def site(path: str, text: str) -> str:
    """`path:N` of the one line of `path` (from the repository root) that contains `text`."""
    hits = [n for n, line in enumerate((ROOT / path).read_text().splitlines(), 1) if text in line]
    assert len(hits) == 1, f"{text!r} is on lines {hits} of {path}, expected exactly one"
    return f"{path}:{hits[0]}"
