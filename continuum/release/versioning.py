"""Worker Versioning, the worker's side: a worker joins a deployment under a build id from the
settings (CONTINUUM_DEPLOYMENT_NAME, CONTINUUM_BUILD_ID), each process with the behaviour
continuum/release/behaviours.py gives it. `continuum.release.deployment` moves new work between
builds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from temporalio import workflow
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.converter import SerializationContext
from temporalio.worker import (
    WorkerDeploymentConfig,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from continuum.release.behaviours import BEHAVIOURS


class VersioningError(ValueError):
    """A release step cannot be done; the message is one line that says why."""


def deployment_config(
    deployment_name: str | None, build_id: str | None
) -> WorkerDeploymentConfig | None:
    """The worker's versioning: none without a deployment name (an unversioned worker, as
    before); with one, a build id is required."""
    if not deployment_name:
        if build_id:
            raise VersioningError(
                "CONTINUUM_BUILD_ID is set but CONTINUUM_DEPLOYMENT_NAME is not: set both"
                " for Worker Versioning, or neither"
            )
        return None
    if "." in deployment_name or ":" in deployment_name:
        raise VersioningError(
            f"CONTINUUM_DEPLOYMENT_NAME {deployment_name!r} may not contain '.' or ':'"
        )
    if not build_id:
        raise VersioningError(
            f"CONTINUUM_DEPLOYMENT_NAME is {deployment_name!r} but CONTINUUM_BUILD_ID is not"
            " set: give this worker's build id (e.g. the release's git tag)"
        )
    if ":" in build_id:
        raise VersioningError(f"CONTINUUM_BUILD_ID {build_id!r} may not contain ':'")
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name, build_id),
        use_worker_versioning=True,
        # A process type missing from BEHAVIOURS stays on its build: no patch can be forgotten.
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


class _Versioned(WorkflowInstance):
    """A workflow instance whose completions carry its process's versioning behaviour."""

    def __init__(self, inner: WorkflowInstance, behaviour: VersioningBehavior) -> None:
        self.inner = inner
        self.behaviour = behaviour

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        completion = self.inner.activate(act)
        if completion.HasField("successful"):
            completion.successful.versioning_behavior = self.behaviour.value
        return completion

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        return self.inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        return self.inner.get_external_store_context(command_info)

    def get_info(self) -> workflow.Info:
        return self.inner.get_info()

    def get_thread_id(self) -> int | None:
        return self.inner.get_thread_id()


class VersionedRunner(WorkflowRunner):
    """Runs workflows as `inner` does and tells Temporal each one's behaviour (BEHAVIOURS).

    The behaviour is declared here rather than with `@workflow.defn(versioning_behavior=...)`:
    the server refuses a declared behaviour from an unversioned worker, and Continuum's workers
    (and its tests' workers) are unversioned unless a deployment is configured."""

    def __init__(self, inner: WorkflowRunner, behaviours: Mapping[str, VersioningBehavior]):
        self.inner = inner
        self.behaviours = behaviours

    def prepare_workflow(self, defn: workflow._Definition) -> None:
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        instance = self.inner.create_instance(det)
        behaviour = self.behaviours.get(det.defn.name or "")
        return _Versioned(instance, behaviour) if behaviour else instance

    def set_worker_level_failure_exception_types(
        self, types: Sequence[type[BaseException]]
    ) -> None:
        self.inner.set_worker_level_failure_exception_types(types)


def versioning_options(deployment_name: str | None, build_id: str | None) -> dict[str, Any]:
    """The Worker arguments for versioning: nothing for an unversioned worker; else its
    deployment version and a runner that declares each process's behaviour."""
    config = deployment_config(deployment_name, build_id)
    if config is None:
        return {}
    behaviours = {
        name: VersioningBehavior.PINNED
        if declared.behaviour == "pinned"
        else VersioningBehavior.AUTO_UPGRADE
        for name, declared in BEHAVIOURS.items()
    }
    return {
        "deployment_config": config,
        "workflow_runner": VersionedRunner(SandboxedWorkflowRunner(), behaviours),
    }
