"""The gateway's one Temporal client, connected lazily so the gateway can start first and say
503 (retry later) while Temporal is unreachable instead of refusing to start."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.service import RPCError

from continuum.client import connect_config
from continuum.converter import data_converter
from continuum.order_client import OrderClient


class Temporal:
    def __init__(self, address: str | None, task_queue: str) -> None:
        self.address = address
        self.task_queue = task_queue
        self._client: Client | None = None

    async def connect(self) -> None:
        # The interceptor carries each webhook's trace into the signals and updates it sends.
        self._client = await Client.connect(
            **connect_config(self.address),
            data_converter=data_converter(),
            lazy=True,
            interceptors=[TracingInterceptor()],
        )

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the gateway is not connected to Temporal yet")
        return self._client

    @property
    def orders(self) -> OrderClient:
        return OrderClient(self.client, self.task_queue)

    async def healthy(self) -> bool:
        try:
            return await self.client.service_client.check_health(timeout=timedelta(seconds=2))
        except (RuntimeError, RPCError):
            return False
