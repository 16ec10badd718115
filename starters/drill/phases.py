"""Where the drill's own time goes: wall-clock seconds per part, in the order the parts ran.

The report carries them (`ContinuityReport.phases`) and prints them, so that a drill that got
slower says which part did (stack start, load and faults, settling, detection's stops...).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Phases:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Adds the block's wall-clock seconds to `name` (a part may run more than once)."""
        began = time.monotonic()
        try:
            yield
        finally:
            spent = self.seconds.get(name, 0.0) + time.monotonic() - began
            self.seconds[name] = round(spent, 1)
