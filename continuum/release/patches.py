"""`continuum release patches`: the lifecycle of each `workflow.patched` id.

A patch moves `patched("x")` → `deprecate_patch("x")` → removed (samples-python's steps):
- `patched` may become `deprecate_patch` once no running process took the old path, i.e.
  passed the patch before it existed. Replaying each running history with the working tree's
  code says exactly which did: their replay asks `patched("x")` and gets False. A process that
  has not reached the patch yet does not count: it takes the new path when it gets there.
- `deprecate_patch` may be removed once no running process holds a marker written by
  `patched` (not deprecated): the SDK core refuses such a marker when the code no longer asks.
Processes whose history does not replay at all are counted as unknown and block both steps
(`continuum release check` says why they fail).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowInstance
from temporalio.worker._workflow_instance import (
    WorkflowInstanceDetails,
    _WorkflowInstanceImpl,
)
from temporalio.workflow import EventGroup

from continuum.release.check import replay_live, workflow_types
from continuum.release.histories import Sample
from continuum.release.words import patch_marker

Usage = Literal["patched", "deprecate_patch"]
_CALLS: dict[str, Usage] = {"patched": "patched", "deprecate_patch": "deprecate_patch"}
# A process's business events (workflows/events.py) ask `patched(patch)` at their first emit:
# `Events(process_id, source, patch)` is that patch's site, and of `hold_patch=` (events that
# wait for the next one).
_EMITTER = "Events"
_EMITTER_PATCH = 2
_EMITTER_HOLD = "hold_patch"


class PatchSite(BaseModel):
    patch_id: str
    usage: Usage
    where: str  # file:line


class PatchReport(BaseModel):
    patch_id: str
    in_code: Usage | None  # None: no longer in the working tree
    where: list[str] = []
    old_path: int = 0  # running processes that passed it before it existed
    new_path: int = 0  # running processes holding its marker from `patched`
    deprecated_marker: int = 0  # ... from `deprecate_patch`
    unknown: int = 0  # running processes whose history does not replay
    first_marker_at: datetime | None = None

    @property
    def verdict(self) -> str:
        blocked = f"; {self.unknown} running processes do not replay (release check)"
        if self.in_code == "patched":
            if self.old_path:
                return f"keep patched: {self.old_path} running processes took the old path"
            if self.unknown:
                return "keep patched" + blocked
            return (
                f'ready: replace patched("{self.patch_id}") by deprecate_patch'
                " and drop the old path"
            )
        if self.in_code == "deprecate_patch":
            if self.new_path:
                return f"keep deprecate_patch: {self.new_path} running processes hold its marker"
            if self.unknown:
                return "keep deprecate_patch" + blocked
            return f'ready: remove deprecate_patch("{self.patch_id}")'
        if self.new_path:
            return (
                f"removed while {self.new_path} running processes hold its marker: they cannot"
                " replay on this code"
            )
        return "removed; nothing running depends on it"


class PatchList(BaseModel):
    patches: list[PatchReport]


def _constants(tree: ast.Module) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def _calls(tree: ast.Module) -> Iterator[tuple[Usage, ast.expr, int]]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in _CALLS:
            yield _CALLS[name], node.args[0], node.lineno
        elif name == _EMITTER:
            keyword = next((k.value for k in node.keywords if k.arg == "patch"), None)
            if keyword is not None:
                yield "patched", keyword, node.lineno
            elif len(node.args) > _EMITTER_PATCH:
                yield "patched", node.args[_EMITTER_PATCH], node.lineno
            held = next((k.value for k in node.keywords if k.arg == _EMITTER_HOLD), None)
            if held is not None:
                yield "patched", held, node.lineno


def patch_sites(root: Path) -> list[PatchSite]:
    """Every `patched(...)` / `deprecate_patch(...)` under `root`, its id resolved when it is a
    string or a module-level string constant (of any module under `root`)."""
    trees = {path: ast.parse(path.read_text(), str(path)) for path in sorted(root.rglob("*.py"))}
    constants: dict[str, str] = {}
    for tree in trees.values():
        constants.update(_constants(tree))
    sites = []
    for path, tree in trees.items():
        local = {**constants, **_constants(tree)}
        for usage, arg, line in _calls(tree):
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                patch_id = arg.value
            elif isinstance(arg, ast.Name) and arg.id in local:
                patch_id = local[arg.id]
            else:
                continue
            where = f"{path.relative_to(root.parent)}:{line}"
            sites.append(PatchSite(patch_id=patch_id, usage=usage, where=where))
    return sites


def package_roots(workflows: Sequence[type]) -> list[Path]:
    """The top-level packages the workflow classes live in (e.g. workflows/)."""
    roots = set()
    for cls in workflows:
        module = sys.modules[cls.__module__.split(".")[0]]
        if module.__file__:
            roots.add(Path(module.__file__).parent)
    return sorted(roots)


class _Observed(_WorkflowInstanceImpl):
    """The SDK's workflow instance, noting what each `patched` call answered on replay."""

    def __init__(self, det: WorkflowInstanceDetails, answers: dict[str, bool]) -> None:
        super().__init__(det)
        self._answers = answers

    def workflow_patch(
        self, id: str, *, deprecated: bool, event_groups: Sequence[EventGroup] | None = None
    ) -> bool:
        used = super().workflow_patch(id, deprecated=deprecated, event_groups=event_groups)
        if not deprecated:
            self._answers.setdefault(id, used)
        return used


class PatchObserver(UnsandboxedWorkflowRunner):
    """Replays without the sandbox (replay needs none: the code is the same) so that each
    `patched` answer can be seen: run id → patch id → True (new path) / False (old path).

    It relies on the SDK's private workflow instance class, pinned with temporalio==1.35.0;
    tests/release/test_patches.py fails if an upgrade changes it."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[str, dict[str, bool]] = {}

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        answers = self.answers.setdefault(det.info.run_id, {})
        return _Observed(det, answers)  # type: ignore[abstract]


async def patch_lifecycle(
    client: Client,
    workflows: Sequence[type],
    converter: DataConverter,
    sample: Sample,
    now: datetime,
    sites: Callable[[], list[PatchSite]] | None = None,
) -> list[PatchReport]:
    found = sites() if sites else [s for r in package_roots(workflows) for s in patch_sites(r)]
    reports: dict[str, PatchReport] = {}
    for site in found:
        report = reports.setdefault(
            site.patch_id, PatchReport(patch_id=site.patch_id, in_code=site.usage)
        )
        report.where.append(site.where)
        if site.usage == "patched":  # a patch both asked and deprecated is still asked
            report.in_code = "patched"
    observer = PatchObserver()
    replayer = Replayer(
        workflows=list(workflows), data_converter=converter, workflow_runner=observer
    )
    running_only = Sample(running=sample.running, closed=0)
    async for live, failure in replay_live(
        client, replayer, workflow_types(workflows), running_only, now
    ):
        markers: dict[str, bool] = {}
        for event in live.history.events:
            if marker := patch_marker(event):
                markers.setdefault(marker[0], marker[1])
                report = reports.setdefault(
                    marker[0], PatchReport(patch_id=marker[0], in_code=None)
                )
                at = event.event_time.ToDatetime(tzinfo=UTC)
                if report.first_marker_at is None or at < report.first_marker_at:
                    report.first_marker_at = at
        # The replayer names a run by its history's original run id.
        answers = observer.answers.pop(live.history.run_id, {})
        for report in reports.values():
            if report.patch_id in markers:
                if markers[report.patch_id]:
                    report.deprecated_marker += 1
                else:
                    report.new_path += 1
            elif failure is not None:
                report.unknown += 1  # it may have passed the patch: nobody can tell
            elif answers.get(report.patch_id) is False:
                report.old_path += 1
    return sorted(reports.values(), key=lambda r: r.patch_id)
