"""Configuration from the environment (and `.env`); secrets are `SecretStr`, never logged.

Temporal's own connection settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
TEMPORAL_TLS_*, TEMPORAL_PROFILE) are read by `temporalio.envconfig`, see `continuum.client`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.approval_policy import ApprovalPolicy

ORDERS_TASK_QUEUE = "continuum-orders"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    task_queue: str = Field(ORDERS_TASK_QUEUE, alias="CONTINUUM_TASK_QUEUE")
    data_dir: Path = Field(Path(".data"), alias="CONTINUUM_DATA_DIR")

    erp_backend: Literal["reference", "tryton"] = Field("reference", alias="ERP_BACKEND")
    erp_url: str = Field("http://127.0.0.1:8101", alias="ERP_URL")
    erp_api_token: SecretStr = Field(SecretStr(""), alias="ERP_API_TOKEN")
    # ERP_BACKEND=tryton: the API user's database, login, password and REST application key,
    # the JSON file `python -m services.tryton setup --dir D` writes (D/api-credentials.json).
    tryton_credentials_file: Path | None = Field(None, alias="TRYTON_CREDENTIALS_FILE")
    crm_url: str = Field("http://127.0.0.1:8102", alias="CRM_URL")
    crm_api_token: SecretStr = Field(SecretStr(""), alias="CRM_API_TOKEN")
    http_timeout_seconds: float = Field(10.0, alias="HTTP_TIMEOUT_SECONDS")

    # Worker tuning: the SDK's slots; activities mostly wait on HTTP, so many fit on one core.
    max_concurrent_activities: int = Field(100, alias="WORKER_MAX_CONCURRENT_ACTIVITIES")
    max_concurrent_workflow_tasks: int = Field(50, alias="WORKER_MAX_CONCURRENT_WORKFLOW_TASKS")
    max_cached_workflows: int = Field(10_000, alias="WORKER_MAX_CACHED_WORKFLOWS")
    graceful_shutdown_seconds: float = Field(20.0, alias="WORKER_GRACEFUL_SHUTDOWN_SECONDS")

    # Business policy handed to each order at start (kept in its history, so replays agree).
    approval_amount_threshold: Decimal = Field(Decimal("5000"), alias="APPROVAL_AMOUNT_THRESHOLD")
    approval_credit_usage: Decimal = Field(Decimal("0.8"), alias="APPROVAL_CREDIT_USAGE")
    approval_deadline_hours: float = Field(48.0, alias="APPROVAL_DEADLINE_HOURS")
    delivery_deadline_hours: float = Field(72.0, alias="DELIVERY_DEADLINE_HOURS")

    def approval_policy(self) -> ApprovalPolicy:
        return ApprovalPolicy(
            amount_threshold=self.approval_amount_threshold,
            credit_usage_threshold=self.approval_credit_usage,
            deadline=timedelta(hours=self.approval_deadline_hours),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
