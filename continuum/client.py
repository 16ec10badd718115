"""Connect to Temporal: the embedded dev server by default, any cluster from the environment."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig

from continuum.converter import data_converter

DEFAULT_ADDRESS = "localhost:7233"


def connect_config(address: str | None = None) -> dict[str, Any]:
    """Client.connect arguments from TEMPORAL_* variables or a profile (Temporal's envconfig)."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    if address:
        config["target_host"] = address
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


async def connect(address: str | None = None) -> Client:
    return await Client.connect(**connect_config(address), data_converter=data_converter())
