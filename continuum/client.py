"""Connect to Temporal: the embedded dev server by default, any cluster from the environment."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from continuum.converter import data_converter

DEFAULT_ADDRESS = "localhost:7233"


def connect_config(address: str | None = None) -> dict[str, Any]:
    """Client.connect arguments from TEMPORAL_* variables or a profile (Temporal's envconfig)."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    if address:
        config["target_host"] = address
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


async def connect(
    address: str | None = None,
    converter: DataConverter | None = None,
    *,
    runtime: Runtime | None = None,
) -> Client:
    """`converter`: e.g. a stack's (its codec keys); else the one the environment names.

    Starts, signals and updates carry the caller's trace context, and workers made from this
    client continue it (the interceptor is inherited); `runtime`: e.g. one serving metrics.
    """
    return await Client.connect(
        **connect_config(address),
        data_converter=converter or data_converter(),
        interceptors=[TracingInterceptor()],
        runtime=runtime,
    )


def failure_reason(err: BaseException) -> str:
    """What a failed workflow or call says, in its own words: the innermost application error
    (the workflow's reason), else Temporal's message, else the error itself."""
    cause: BaseException | None = err
    while cause is not None and cause.__cause__ is not None:
        if isinstance(cause, ApplicationError):
            break
        cause = cause.__cause__
    if isinstance(cause, ApplicationError | RPCError):
        return cause.message
    return str(cause or err)


async def finished_state(
    handle: WorkflowHandle[Any, Any], status: WorkflowExecutionStatus | None
) -> str:
    """How a closed process ended: its result's business status where it completed ("Cancelled",
    "Compensated"), else Temporal's word ("terminated", "failed")."""
    if status is WorkflowExecutionStatus.COMPLETED:
        try:
            result = await handle.result()
        except (WorkflowFailureError, RPCError):
            pass
        else:
            # A typed handle gives the result model; an untyped one, its JSON as a dict.
            business = (
                result.get("status")
                if isinstance(result, dict)
                else getattr(result, "status", None)
            )
            if business is not None:
                return str(getattr(business, "value", business))
    return status.name.lower() if status else "closed"
