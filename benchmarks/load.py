"""How busy the machine is apart from the benchmark itself, so that a figure taken while other
work ran beside it is refused or marked instead of being compared with quiet-machine figures.

The load average alone cannot say it: it counts the benchmark's own processes too (a burst
that just ended keeps the 1-minute average up for a minute). So besides recording it, the
machine's busy CPU time (/proc/stat) is compared with the CPU time of the benchmark's own
processes over the same window: what remains is the others' share, in cores.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra

# Others may use this much of the machine (in cores) before a figure counts as taken on a busy
# machine: a quarter core is what an editor, a shell and an idle desktop stay well under.
DEFAULT_MAX_OTHERS = 0.25


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle since boot (all cores)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0))


def own_busy_seconds(pids: Iterable[int]) -> float:
    """CPU seconds used so far by these processes and their children (gone ones count 0)."""
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in (proc, *proc.children(recursive=True)):
                times = p.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


@dataclass(frozen=True)
class Window:
    """What the machine did over a stretch of wall time, split into ours and the others'."""

    load_before: tuple[float, float, float]
    seconds: float
    machine_cores: float  # busy cores, all processes
    own_cores: float  # busy cores, the benchmark's processes

    @property
    def others_cores(self) -> float:
        return max(0.0, self.machine_cores - self.own_cores)

    def busy(self, max_others: float = DEFAULT_MAX_OTHERS) -> bool:
        return self.others_cores > max_others

    def describe(self) -> str:
        load = ", ".join(f"{x:.2f}" for x in self.load_before)
        return (
            f"load average {load}; over {self.seconds:.1f} s the machine used"
            f" {self.machine_cores:.2f} cores, the benchmark {self.own_cores:.2f},"
            f" others {self.others_cores:.2f}"
        )


class Meter:
    """Measures one window: `start()` before, `stop()` after; `own` lists our process ids
    (the benchmark's own process is always counted)."""

    def __init__(
        self,
        own: Callable[[], Iterable[int]],
        *,
        clock: Callable[[], float] | None = None,
        machine: Callable[[], float] = machine_busy_seconds,
        owned: Callable[[Iterable[int]], float] = own_busy_seconds,
    ) -> None:
        self._own = own
        self._clock = clock or time.monotonic
        self._machine = machine
        self._owned = owned
        self._start: tuple[tuple[float, float, float], float, float, float] | None = None

    def _pids(self) -> list[int]:
        return [os.getpid(), *self._own()]

    def start(self) -> None:
        load = os.getloadavg()
        self._start = (load, self._clock(), self._machine(), self._owned(self._pids()))

    def stop(self) -> Window:
        assert self._start is not None, "start() first"
        load, began, machine, own = self._start
        seconds = max(self._clock() - began, 1e-9)
        return Window(
            load_before=load,
            seconds=seconds,
            machine_cores=(self._machine() - machine) / seconds,
            own_cores=(self._owned(self._pids()) - own) / seconds,
        )


def verdict(windows: Iterable[Window], max_others: float = DEFAULT_MAX_OTHERS) -> str | None:
    """None when every window was quiet; else why the figures are not comparable."""
    busy = [w for w in windows if w.busy(max_others)]
    if not busy:
        return None
    worst = max(busy, key=lambda w: w.others_cores)
    return (
        f"{len(busy)} measurement(s) ran on a busy machine (other processes used more than"
        f" {max_others:.2f} cores; worst: {worst.describe()})"
    )


async def probe(meter: Meter, seconds: float) -> Window:
    """The machine over the next `seconds`, while the benchmark itself stands still."""
    meter.start()
    await asyncio.sleep(seconds)
    return meter.stop()


async def quiet_window(
    meter: Meter, *, seconds: float, wait: float, max_others: float = DEFAULT_MAX_OTHERS
) -> Window:
    """Probes until the others are quiet or `wait` seconds have passed; the last probe."""
    deadline = time.monotonic() + wait
    window = await probe(meter, seconds)
    while window.busy(max_others) and time.monotonic() + seconds <= deadline:
        window = await probe(meter, seconds)
    return window
