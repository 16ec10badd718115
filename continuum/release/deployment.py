"""Worker Versioning, the operator's side: `continuum release ramp | promote | rollback | pin |
status` move new work between builds through server 1.32's deployment APIs.

Which build new processes start on is the deployment's routing: the current version, and a
ramping version that takes a share of new processes (by workflow id). A pinned process stays
on the build it started on until it ends; an auto-upgrade one moves to the current (or ramping)
build at its next step. An old build may stop once it is neither current nor ramping and no
running process is pinned to it.
"""

from __future__ import annotations

import asyncio
import getpass
import socket
import time
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.deployment.v1 import WorkerDeploymentInfo
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionProto
from temporalio.api.enums.v1 import RoutingConfigUpdateState, WorkerDeploymentVersionStatus
from temporalio.api.workflow.v1 import VersioningOverride, WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
    UpdateWorkflowExecutionOptionsRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from continuum.release.versioning import VersioningError

# How long a routing change may take to reach the task queues before the command returns.
PROPAGATION_SECONDS = 30.0
# Visibility's system attributes for versioning (server 1.32).
VERSION_ATTRIBUTE = "TemporalWorkerDeploymentVersion"
BEHAVIOUR_ATTRIBUTE = "TemporalWorkflowVersioningBehavior"
PINNED, AUTO_UPGRADE = "Pinned", "AutoUpgrade"
_STATUS = {
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT: "current",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING: "ramping",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING: "draining",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED: "drained",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE: "inactive",
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CREATED: "created",
}


class VersionRow(BaseModel):
    build_id: str
    status: str
    ramp_percent: float = 0.0
    pinned: int = 0  # running processes pinned to this build
    auto_upgrade: int = 0  # running auto-upgrade processes whose last step ran here
    created: datetime | None = None
    current_since: datetime | None = None
    ramping_since: datetime | None = None
    last_current: datetime | None = None

    @property
    def routed(self) -> bool:
        return self.status in ("current", "ramping")

    @property
    def can_stop(self) -> bool:
        """No new process comes here and none is pinned here: its workers may stop. Its
        auto-upgrade processes move to the current build at their next step."""
        return not self.routed and self.pinned == 0


class DeploymentState(BaseModel):
    name: str
    current: str | None
    ramping: str | None
    ramp_percent: float
    versions: list[VersionRow]
    unversioned_running: int = 0  # running processes that started before versioning

    def version(self, build_id: str) -> VersionRow | None:
        return next((v for v in self.versions if v.build_id == build_id), None)


def _moment(stamp: Timestamp) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if stamp.seconds else None


def _identity() -> str:
    return f"continuum release ({getpass.getuser()}@{socket.gethostname()})"


class Deployment:
    """One worker deployment of a namespace, as `continuum release` drives it."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name

    def canonical(self, build_id: str) -> str:
        return f"{self.name}:{build_id}"

    async def _describe(self) -> tuple[WorkerDeploymentInfo, bytes]:
        try:
            answer = await self.client.workflow_service.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(
                    namespace=self.client.namespace, deployment_name=self.name
                )
            )
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise VersioningError(
                    f"no worker of deployment {self.name!r} has polled yet: start a worker with"
                    f" CONTINUUM_DEPLOYMENT_NAME={self.name} and its CONTINUUM_BUILD_ID first"
                ) from None
            raise
        return answer.worker_deployment_info, answer.conflict_token

    async def _count(self, query: str) -> int:
        return (await self.client.count_workflows(query)).count

    async def _running_on(self, build_id: str, behaviour: str) -> int:
        return await self._count(
            f"{VERSION_ATTRIBUTE} = '{self.canonical(build_id)}' AND"
            f" {BEHAVIOUR_ATTRIBUTE} = '{behaviour}' AND ExecutionStatus = 'Running'"
        )

    async def state(self) -> DeploymentState:
        info, _ = await self._describe()
        routing = info.routing_config
        current = routing.current_deployment_version.build_id or None
        ramping = routing.ramping_deployment_version.build_id or None
        rows = []
        for summary in info.version_summaries:
            build = summary.deployment_version.build_id
            rows.append(
                VersionRow(
                    build_id=build,
                    status=_STATUS.get(summary.status, "unknown"),
                    ramp_percent=routing.ramping_version_percentage if build == ramping else 0.0,
                    pinned=await self._running_on(build, PINNED),
                    auto_upgrade=await self._running_on(build, AUTO_UPGRADE),
                    created=_moment(summary.create_time),
                    current_since=_moment(summary.current_since_time),
                    ramping_since=_moment(summary.ramping_since_time),
                    last_current=_moment(summary.last_current_time),
                )
            )
        rows.sort(key=lambda r: r.created or datetime.min.replace(tzinfo=UTC))
        unversioned = await self._count(
            f"ExecutionStatus = 'Running' AND {VERSION_ATTRIBUTE} IS NULL"
        )
        return DeploymentState(
            name=self.name,
            current=current,
            ramping=ramping,
            ramp_percent=routing.ramping_version_percentage if ramping else 0.0,
            versions=rows,
            unversioned_running=unversioned,
        )

    def _known(self, info: WorkerDeploymentInfo, build_id: str) -> None:
        builds = [s.deployment_version.build_id for s in info.version_summaries]
        if build_id not in builds:
            raise VersioningError(
                f"build {build_id!r} of deployment {self.name!r} has no workers yet (known:"
                f" {', '.join(builds) or 'none'}): start its workers first"
            )

    async def _call(self, what: str, call: Awaitable[object]) -> None:
        """Makes a routing change and waits (bounded) until it has reached every task queue,
        so that a process started after the command returns is routed the new way."""
        try:
            await call
        except RPCError as err:
            # The server's reason (no pollers, a concurrent change) in one line.
            raise VersioningError(f"{what} refused by Temporal: {err.message}") from None
        deadline = time.monotonic() + PROPAGATION_SECONDS
        while time.monotonic() < deadline:
            info, _ = await self._describe()
            if (
                info.routing_config_update_state
                != RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_IN_PROGRESS
            ):
                return
            await asyncio.sleep(0.2)

    async def ramp(self, build_id: str, percent: float) -> DeploymentState:
        """`percent` of new processes (and of auto-upgrade ones at their next step) go to
        `build_id`; the rest stay on the current build."""
        if not 0 < percent <= 100:
            raise VersioningError(f"--percent must be above 0 and at most 100, not {percent:g}")
        info, token = await self._describe()
        self._known(info, build_id)
        if info.routing_config.current_deployment_version.build_id == build_id:
            raise VersioningError(f"build {build_id!r} is already current: nothing to ramp")
        await self._call(
            f"ramping {build_id}",
            self.client.workflow_service.set_worker_deployment_ramping_version(
                SetWorkerDeploymentRampingVersionRequest(
                    namespace=self.client.namespace,
                    deployment_name=self.name,
                    build_id=build_id,
                    percentage=percent,
                    conflict_token=token,
                    identity=_identity(),
                )
            ),
        )
        return await self.state()

    async def promote(self, build_id: str | None = None) -> DeploymentState:
        """Makes `build_id` (default: the ramping build) current: all new processes go there."""
        info, token = await self._describe()
        build_id = build_id or info.routing_config.ramping_deployment_version.build_id
        if not build_id:
            raise VersioningError("no build is ramping: name the build to promote")
        self._known(info, build_id)
        await self._set_current(build_id, token)
        return await self.state()

    async def _set_current(self, build_id: str, token: bytes) -> None:
        await self._call(
            f"making {build_id} current",
            self.client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=self.client.namespace,
                    deployment_name=self.name,
                    build_id=build_id,
                    conflict_token=token,
                    identity=_identity(),
                )
            ),
        )

    async def rollback(self, to: str | None = None) -> tuple[str, DeploymentState]:
        """Stops a ramp (new processes go to the current build again); without a ramp, makes
        `to` (default: the build that was current before) current again. Processes pinned to
        the build rolled back from stay on it: keep its workers until it has drained."""
        info, token = await self._describe()
        routing = info.routing_config
        ramping = routing.ramping_deployment_version.build_id
        current = routing.current_deployment_version.build_id
        if ramping and to is None:
            await self._call(
                f"stopping the ramp of {ramping}",
                self.client.workflow_service.set_worker_deployment_ramping_version(
                    SetWorkerDeploymentRampingVersionRequest(
                        namespace=self.client.namespace,
                        deployment_name=self.name,
                        build_id="",
                        percentage=0,
                        conflict_token=token,
                        identity=_identity(),
                    )
                ),
            )
            done = f"stopped ramping {ramping}: new processes go to {current or 'unversioned'}"
            return done, await self.state()
        target = to or _previous(info, current)
        if target is None:
            raise VersioningError(
                f"nothing to roll back to: no build of {self.name!r} was current before"
                f" {current or 'now'}"
            )
        self._known(info, target)
        if target == current:
            raise VersioningError(f"build {target!r} is already current")
        await self._set_current(target, token)
        return f"{target} is current again (was {current or 'unversioned'})", await self.state()

    async def pin(self, build_id: str, workflow_types: Sequence[str] = ()) -> int:
        """Pins the running auto-upgrade processes whose last step ran on `build_id` to it,
        e.g. before ramping a build whose change to them could not be patched. Returns how many."""
        info, _ = await self._describe()
        self._known(info, build_id)
        query = (
            f"{VERSION_ATTRIBUTE} = '{self.canonical(build_id)}' AND"
            f" {BEHAVIOUR_ATTRIBUTE} = '{AUTO_UPGRADE}' AND ExecutionStatus = 'Running'"
        )
        if workflow_types:
            query += f" AND WorkflowType IN ({', '.join(repr(t) for t in workflow_types)})"
        override = VersioningOverride(
            pinned=VersioningOverride.PinnedOverride(
                behavior=VersioningOverride.PinnedOverrideBehavior.PINNED_OVERRIDE_BEHAVIOR_PINNED,
                version=VersionProto(deployment_name=self.name, build_id=build_id),
            )
        )
        pinned = 0
        async for execution in self.client.list_workflows(query):
            await self.client.workflow_service.update_workflow_execution_options(
                UpdateWorkflowExecutionOptionsRequest(
                    namespace=self.client.namespace,
                    workflow_execution=WorkflowExecution(
                        workflow_id=execution.id, run_id=execution.run_id
                    ),
                    workflow_execution_options=WorkflowExecutionOptions(
                        versioning_override=override
                    ),
                    update_mask=FieldMask(paths=["versioning_override"]),
                    identity=_identity(),
                )
            )
            pinned += 1
        return pinned


def _previous(info: WorkerDeploymentInfo, current: str) -> str | None:
    """The build that was current most recently, other than `current`."""
    before = [
        s
        for s in info.version_summaries
        if s.deployment_version.build_id != current and s.last_current_time.seconds
    ]
    if not before:
        return None
    latest = max(before, key=lambda s: s.last_current_time.ToNanoseconds())
    return latest.deployment_version.build_id
