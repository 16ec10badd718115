"""A benchmark figure counts as taken on a busy machine when processes other than the
benchmark's used more than the allowed cores: the load average is recorded, but it is the
others' CPU (machine minus ours) that decides, since the load average counts ours too."""

from __future__ import annotations

import os

from benchmarks.load import Meter, Window, own_busy_seconds, verdict


class Clocks:
    """Scripted readings: wall time, the machine's busy CPU, ours."""

    def __init__(self, *readings: tuple[float, float, float]) -> None:
        self.readings = list(readings)
        self.now = self.readings.pop(0)

    def wall(self) -> float:
        return self.now[0]

    def machine(self) -> float:
        return self.now[1]

    def owned(self, pids: object) -> float:
        return self.now[2]

    def step(self) -> None:
        self.now = self.readings.pop(0)


def metered(clocks: Clocks) -> Meter:
    return Meter(lambda: [], clock=clocks.wall, machine=clocks.machine, owned=clocks.owned)


def test_others_are_the_machine_minus_the_benchmark_and_decide_busy() -> None:
    # 10 s: the machine was busy 16 CPU-seconds (1.6 cores), the benchmark 15 (1.5 cores).
    clocks = Clocks((0.0, 100.0, 50.0), (10.0, 116.0, 65.0))
    meter = metered(clocks)
    meter.start()
    clocks.step()
    window = meter.stop()
    assert round(window.machine_cores, 2) == 1.6 and round(window.own_cores, 2) == 1.5
    assert round(window.others_cores, 2) == 0.1
    assert not window.busy(0.25) and window.busy(0.05)
    assert len(window.load_before) == 3
    assert "others 0.10" in window.describe()


def test_the_verdict_names_the_busy_windows_and_the_worst() -> None:
    quiet = Window((0.5, 0.4, 0.3), 10.0, machine_cores=1.9, own_cores=1.8)
    busy = Window((7.0, 6.0, 5.0), 10.0, machine_cores=2.0, own_cores=1.2)
    assert verdict([quiet, quiet]) is None
    said = verdict([quiet, busy, quiet])
    assert said is not None and said.startswith("1 measurement(s) ran on a busy machine")
    assert "load average 7.00, 6.00, 5.00" in said and "others 0.80" in said


def test_a_negative_difference_counts_as_no_others() -> None:
    # Process and machine counters tick at different moments: never below zero.
    assert Window((0.0, 0.0, 0.0), 1.0, machine_cores=1.0, own_cores=1.05).others_cores == 0.0


def test_own_cpu_counts_this_process_and_skips_gone_ones() -> None:
    sum(i * i for i in range(200_000))  # some CPU of our own
    assert own_busy_seconds([os.getpid()]) > 0.0
    assert own_busy_seconds([2**22 + 12345]) == 0.0  # no such process
