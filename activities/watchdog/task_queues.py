"""Task queues as the server sees them: backlog count and age, and the newest poll of a worker
(DescribeTaskQueue with stats, for the workflow and the activity tasks)."""

from __future__ import annotations

from datetime import UTC, timedelta

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from domain.watchdog.findings import QueueState

_TYPES = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}
_RPC_TIMEOUT = timedelta(seconds=10)


async def queue_states(client: Client, task_queue: str) -> list[QueueState]:
    states = []
    for kind, queue_type in _TYPES.items():
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=queue_type,
                report_stats=True,
                report_pollers=True,
            ),
            timeout=_RPC_TIMEOUT,
        )
        polls = [p.last_access_time.ToDatetime(tzinfo=UTC) for p in answer.pollers]
        states.append(
            QueueState(
                task_queue=task_queue,
                kind=kind,
                backlog=answer.stats.approximate_backlog_count,
                oldest=answer.stats.approximate_backlog_age.ToTimedelta(),
                last_poll=max(polls, default=None),
            )
        )
    return states
