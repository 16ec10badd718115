"""`python -m benchmarks.profile [--orders 150] [--rate 200] [--twin]`: where the worker and the
reference services spend their CPU during a burst of orders.

It starts the benchmark stack (`benchmarks.harness.Bench`: dev server, ERP, CRM, one benchmark
worker), warms it up, then runs a burst of orders (and, with `--twin`, a burst of no-op twins)
while py-spy samples the worker, the ERP and the CRM (`py-spy record --format raw --gil
--nonblocking`: stacks of the thread holding the GIL, the process not paused). Per process:

- CPU per order from the kernel's accounting, the worker split by thread (its asyncio loop,
  the workflow threads, the SDK core's Rust threads, which py-spy does not see);
- inclusive shares of named parts of the hot path (the activity task, the OTel interceptor,
  httpx and its OTel wrapper, pydantic, the codec, runtime imports, logging and redaction…):
  the share of on-CPU samples with such a frame anywhere on the stack;
- self time by package (the innermost frame's package) and the top functions.

The load average and the others' CPU during each burst are printed with it (`benchmarks.load`):
on a shared machine compare shares within one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra

from benchmarks.harness import Bench, burst, machine, make_orders
from benchmarks.harness import append_section as append
from benchmarks.load import Meter, Window

ROOT = Path(__file__).resolve().parent.parent
SPY = Path(sys.executable).parent / "py-spy"
# A waiting thread's innermost frame (the wait itself runs in C and holds no GIL).
IDLE = frozenset({"EpollSelector.select", "Condition.wait", "_worker", "Event.wait"})
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class Frame:
    func: str
    module: str  # "httpx/_client", "activities/orders/crm", "asyncio/events"

    @property
    def package(self) -> str:
        return self.module.split("/", 1)[0]


def module_of(path: str) -> str:
    """A file as a module path: site-packages and the standard library stripped, and this
    project's files relative to its root."""
    path = path.replace("\\", "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        root = f"{ROOT.as_posix()}/"
        if path.startswith(root):
            path = path[len(root) :]
        elif (m := re.search(r"/lib/python3\.\d+/(.*)$", path)) is not None:
            path = m.group(1)
    return path.removesuffix(".py").removesuffix("/__init__")


def parse_frame(text: str) -> Frame:
    m = _FRAME.match(text.strip())
    if m is None:
        return Frame(text.strip(), "?")
    return Frame(m.group("func"), module_of(m.group("file")))


@dataclass
class Profile:
    """Collapsed stacks (root first) with their sample counts."""

    stacks: list[tuple[tuple[Frame, ...], int]] = field(default_factory=list)

    @classmethod
    def parse(cls, lines: Iterable[str]) -> Profile:
        found = cls()
        for line in lines:
            line = line.rstrip("\n")
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = tuple(parse_frame(f) for f in stack.split(";") if f)
            found.stacks.append((frames, int(count)))
        return found

    def busy(self) -> Profile:
        """Without samples of a thread waiting (py-spy's `--gil` leaves few; these go too)."""
        return Profile([(f, n) for f, n in self.stacks if f and f[-1].func not in IDLE])

    @property
    def samples(self) -> int:
        return sum(n for _, n in self.stacks)

    def inclusive(self, probe: Probe) -> float:
        """Share of samples with a frame the probe matches anywhere on the stack."""
        total = self.samples
        hit = sum(n for frames, n in self.stacks if any(probe.matches(f) for f in frames))
        return hit / total if total else 0.0

    def owners(self, owners: Sequence[Probe]) -> Counter[str]:
        """Each sample to the innermost frame an owner claims (the standard library a part
        calls counts as that part's), else to "other"."""
        counted: Counter[str] = Counter()
        for frames, n in self.stacks:
            owner = next(
                (o.name for f in reversed(frames) for o in owners if o.matches(f)), "other"
            )
            counted[owner] += n
        return counted

    def self_by_package(self) -> Counter[str]:
        counted: Counter[str] = Counter()
        for frames, n in self.stacks:
            if frames:
                counted[frames[-1].package] += n
        return counted

    def functions(self, *, inclusive: bool) -> Counter[str]:
        counted: Counter[str] = Counter()
        for frames, n in self.stacks:
            chosen = frames if inclusive else frames[-1:]
            for name in {f"{f.func} ({f.module})" for f in chosen}:
                counted[name] += n
        return counted


@dataclass(frozen=True)
class Probe:
    """A named part of the hot path: frames whose module starts with one of `modules` (and,
    when `funcs` is given, whose function is one of them)."""

    name: str
    modules: tuple[str, ...]
    funcs: tuple[str, ...] = ()

    def matches(self, frame: Frame) -> bool:
        if not frame.module.startswith(self.modules):
            return False
        return not self.funcs or frame.func in self.funcs


WORKER_PROBES = (
    Probe("activity task (SDK: decode, run, encode, complete)", ("temporalio/worker/_activity",)),
    Probe(
        "workflow activation (SDK workflow code, sandbox included)",
        ("temporalio/worker/_workflow",),
    ),
    Probe("workflow sandbox", ("temporalio/worker/workflow_sandbox",)),
    Probe("OTel Temporal interceptor", ("temporalio/contrib/opentelemetry",)),
    Probe("OpenTelemetry (any: API, SDK, instrumentation)", ("opentelemetry",)),
    Probe("OTel httpx wrapper", ("opentelemetry/instrumentation/httpx",)),
    Probe("HTTP client (httpx, aiohttp, httpcore)", ("httpx", "aiohttp", "httpcore")),
    Probe("our activities", ("activities/",)),
    Probe("our connectors", ("connectors/",)),
    Probe("CRM upsert_deal activity", ("activities/orders/crm",), ("upsert_deal",)),
    Probe("pydantic (validate, serialise)", ("pydantic", "pydantic_core")),
    Probe("data converter (SDK converter)", ("temporalio/converter",)),
    Probe("payload codec (continuum.codec)", ("continuum/codec",)),
    Probe("runtime imports", ("importlib/_bootstrap", "<frozen importlib._bootstrap>")),
    Probe("logging (any)", ("logging",)),
    Probe("log redaction", ("continuum/redaction",)),
    Probe("asyncio machinery", ("asyncio",)),
)

# Who does the work, innermost first: a sample belongs to the deepest frame one of these claims.
WORKER_OWNERS = (
    Probe("runtime imports", ("importlib", "<frozen importlib")),
    Probe(
        "OpenTelemetry (spans, context, propagation)",
        ("opentelemetry", "temporalio/contrib/opentelemetry"),
    ),
    Probe(
        "HTTP client (httpx, aiohttp, httpcore, h11, anyio)",
        ("httpx", "aiohttp", "yarl", "multidict", "httpcore", "h11", "anyio", "sniffio"),
    ),
    Probe("pydantic", ("pydantic", "pydantic_core")),
    Probe("payload codec (AES-GCM)", ("continuum/codec", "cryptography")),
    Probe("logging and redaction", ("logging", "continuum/redaction", "continuum/logs")),
    Probe("workflow sandbox", ("temporalio/worker/workflow_sandbox",)),
    Probe(
        "our code (activities, connectors, domain, workflows)",
        ("activities/", "connectors/", "domain/", "workflows/", "benchmarks/"),
    ),
    Probe("Temporal SDK (worker, bridge, converter)", ("temporalio",)),
    Probe("asyncio event loop", ("asyncio", "selectors")),
)
SERVICE_OWNERS = (
    Probe("runtime imports", ("importlib", "<frozen importlib")),
    Probe("OpenTelemetry (server spans)", ("opentelemetry",)),
    Probe("pydantic", ("pydantic", "pydantic_core")),
    Probe("logging and redaction", ("logging", "continuum/redaction", "uvicorn/logging")),
    Probe("fault injector", ("services/faults",)),
    Probe(
        "hand-over to a worker thread", ("anyio/to_thread", "anyio/_backends", "threading", "queue")
    ),
    Probe("our handlers and stores", ("services/",)),
    Probe("fastapi + starlette", ("fastapi", "starlette")),
    Probe("uvicorn + h11 (HTTP server)", ("uvicorn", "h11", "httptools")),
    Probe("asyncio event loop", ("asyncio", "selectors")),
)

SERVICE_PROBES = (
    Probe("our handlers and stores (services/)", ("services/",)),
    Probe("ERP/CRM store (SQLite)", ("services/erp/store", "services/crm/store")),
    Probe("fastapi + starlette (routing, validation)", ("fastapi", "starlette")),
    Probe("uvicorn (HTTP parsing, h11)", ("uvicorn", "h11", "httptools")),
    Probe("OpenTelemetry (any)", ("opentelemetry",)),
    Probe("OTel ASGI/FastAPI middleware", ("opentelemetry/instrumentation",)),
    Probe("pydantic", ("pydantic", "pydantic_core")),
    Probe("logging (access log)", ("logging", "uvicorn/logging")),
    Probe("log redaction", ("continuum/redaction",)),
    Probe("fault injector middleware", ("services/faults",)),
    Probe("json", ("json",)),
)


def table(profile: Profile, probes: Sequence[Probe], owners: Sequence[Probe], top: int = 15) -> str:
    total = profile.samples or 1
    lines = ["| who does the work (self, with the stdlib it calls) | share |", "| --- | --- |"]
    for name, n in profile.owners(owners).most_common():
        lines.append(f"| {name} | {100 * n / total:.1f} % |")
    lines += ["", "| part (inclusive) | share of on-CPU samples |", "| --- | --- |"]
    for probe in probes:
        lines.append(f"| {probe.name} | {100 * profile.inclusive(probe):.1f} % |")
    lines += ["", "| package (self) | share |", "| --- | --- |"]
    for package, n in profile.self_by_package().most_common(top):
        lines.append(f"| {package} | {100 * n / total:.1f} % |")
    lines += ["", "| function (self) | share |", "| --- | --- |"]
    for name, n in profile.functions(inclusive=False).most_common(top):
        lines.append(f"| `{name}` | {100 * n / total:.1f} % |")
    return "\n".join(lines)


def thread_cpu(pid: int) -> Counter[str]:
    """CPU seconds per thread group of a process, grouped by thread name."""
    used: Counter[str] = Counter()
    for thread in psutil.Process(pid).threads():
        try:
            name = Path(f"/proc/{pid}/task/{thread.id}/comm").read_text().strip()
        except OSError:
            name = "?"
        group = "main (asyncio loop)" if thread.id == pid else re.sub(r"[-_ ]?\d+$", "", name)
        used[group] += thread.user_time + thread.system_time
    return used


class Spy:
    """py-spy recording one process until stopped."""

    def __init__(self, pid: int, out: Path, rate: int) -> None:
        self.out = out
        argv = [str(SPY), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
        argv += ["--output", str(out), "--nonblocking", "--gil", "--full-filenames", "--function"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> Profile:
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        if not self.out.exists():
            raise RuntimeError(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}")
        return Profile.parse(self.out.read_text().splitlines())


@dataclass
class Measured:
    kind: str
    orders: int
    seconds: float
    window: Window
    cpu: dict[str, float]  # CPU seconds per process
    threads: Counter[str]  # worker CPU seconds per thread group
    profiles: dict[str, Profile]

    def per_order_ms(self, seconds: float) -> str:
        return f"{1000 * seconds / self.orders:.0f} ms"


async def measure(bench: Bench, kind: str, orders: int, rate: int, out: Path) -> Measured:
    assert bench.stack is not None
    pids = {
        "worker": bench.procs[0].pid,
        "erp": bench.stack.processes["erp"].pid,
        "crm": bench.stack.processes["crm"].pid,
    }
    server = bench.stack.processes["temporal"].pid
    meter = Meter(lambda: [*pids.values(), server])

    def cpu() -> dict[str, float]:
        found = {}
        for name, pid in (*pids.items(), ("server", server)):
            t = psutil.Process(pid).cpu_times()
            found[name] = t.user + t.system
        return found

    before, threads_before = cpu(), thread_cpu(pids["worker"])
    spies = {name: Spy(pid, out / f"{kind}-{name}.txt", rate) for name, pid in pids.items()}
    meter.start()
    assert bench.client is not None
    got = await burst(bench.client, make_orders(f"P{kind[0]}", orders), kind == "twin")
    window = meter.stop()
    profiles = {name: spy.stop() for name, spy in spies.items()}
    after = cpu()
    threads = thread_cpu(pids["worker"])
    threads.subtract(threads_before)
    return Measured(
        kind,
        got.orders,
        got.seconds,
        window,
        {k: after[k] - before[k] for k in after},
        threads,
        profiles,
    )


def report(m: Measured) -> str:
    cpu = ", ".join(f"{k} {m.per_order_ms(v)}" for k, v in m.cpu.items())
    threads = ", ".join(f"{k} {m.per_order_ms(v)}" for k, v in m.threads.most_common() if v > 0)
    parts = [
        f"### {m.kind}s: {m.orders} in {m.seconds:.1f} s = {m.orders / m.seconds:.1f}/s\n",
        f"- {m.window.describe()}",
        f"- CPU per {m.kind}: {cpu}",
        f"- worker CPU per {m.kind} by thread: {threads}",
    ]
    for name, profile in m.profiles.items():
        probes, owners = (
            (WORKER_PROBES, WORKER_OWNERS) if name == "worker" else (SERVICE_PROBES, SERVICE_OWNERS)
        )
        busy = profile.busy()
        parts.append(
            f"\n#### {name} ({busy.samples} on-CPU samples)\n\n{table(busy, probes, owners)}"
        )
    return "\n".join(parts) + "\n"


async def main(orders: int, rate: int, twin: bool, data_dir: Path, record: bool) -> None:
    where = machine()
    bench = Bench(data_dir)
    print(f"starting the stack in {data_dir} …", flush=True)
    client = await bench.start()
    out = data_dir / "profiles"
    out.mkdir(exist_ok=True)
    try:
        await burst(client, make_orders("W", 20), twin=False)
        await burst(client, make_orders("WT", 20), twin=True)
        kinds = ("order", "twin") if twin else ("order",)
        measured = [await measure(bench, kind, orders, rate, out) for kind in kinds]
    finally:
        bench.stop()
    body = "\n".join(report(m) for m in measured)
    print(body)
    print(f"raw profiles (py-spy collapsed stacks) in {out}")
    if record:
        command = f"python -m benchmarks.profile --orders {orders} --rate {rate}"
        command += " --twin" if twin else ""
        append("Where the CPU goes: worker and services under a burst", command, where, body)


def reread(directory: Path) -> str:
    """The tables again from the raw profiles a run left (`<kind>-<process>.txt`)."""
    parts = []
    for path in sorted(directory.glob("*-*.txt")):
        name = path.stem.split("-", 1)[1]
        probes, owners = (
            (WORKER_PROBES, WORKER_OWNERS) if name == "worker" else (SERVICE_PROBES, SERVICE_OWNERS)
        )
        busy = Profile.parse(path.read_text().splitlines()).busy()
        parts.append(f"#### {path.stem} ({busy.samples} samples)\n\n{table(busy, probes, owners)}")
    return "\n\n".join(parts)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--orders", type=int, default=150, help="orders in the profiled burst")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--twin", action="store_true", help="also profile a burst of twins")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temp dir (kept)")
    parser.add_argument("--record", action="store_true", help="append to BENCHMARKS.md")
    parser.add_argument(
        "--reread", type=Path, default=None, help="tables from a run's raw profiles"
    )
    args = parser.parse_args()
    if args.reread is not None:
        print(reread(args.reread))
        return
    if not 10 <= args.orders <= 5000:
        parser.error("--orders 10–5,000")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="continuum-profile-"))
    asyncio.run(main(args.orders, args.rate, args.twin, data_dir.resolve(), args.record))


if __name__ == "__main__":
    cli()
