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

from continuum.approvals.config import DEFAULT_FILE as DEFAULT_APPROVAL_FILE
from continuum.approvals.config import load_approval_policy
from continuum.defaults import WATCHDOG as DEFAULT_WATCHDOG_FILE
from continuum.erp_backends import ERP_BACKENDS, ErpBackend, ErpName
from continuum.events.config import DEFAULT_FILE as DEFAULT_EVENTS_FILE
from continuum.events.config import EventsConfig, load_events_config
from continuum.purchasing.config import DEFAULT_FILE as DEFAULT_PURCHASING_FILE
from continuum.purchasing.config import load_purchasing_policy
from domain.approvals.policy import ApprovalPolicy
from domain.orders.contract import TASK_QUEUE
from domain.purchasing.policy import PurchasingPolicy

ORDERS_TASK_QUEUE = TASK_QUEUE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    task_queue: str = Field(ORDERS_TASK_QUEUE, alias="CONTINUUM_TASK_QUEUE")
    data_dir: Path = Field(Path(".data"), alias="CONTINUUM_DATA_DIR")
    # Continuum's own state (sync watermarks, quarantine, drift; webhook receipts), a SQLAlchemy
    # URL: default the SQLite file <data dir>/continuum.db; postgresql+psycopg://... in production.
    database_url: SecretStr | None = Field(None, alias="CONTINUUM_DATABASE_URL")
    # The ERP→CRM sync: its pre-store file (default <data dir>/sync.db, imported once), page size.
    sync_db: Path | None = Field(None, alias="SYNC_DB")
    sync_page_size: int = Field(500, ge=1, le=1000, alias="SYNC_PAGE_SIZE")

    # One of continuum.erp_backends.ERP_BACKENDS.
    erp_backend: ErpName = Field("reference", alias="ERP_BACKEND")
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
    # Measured (BENCHMARKS.md): RSS follows the cache, not the orders parked; 500 holds the busy
    # workflows of a burst and keeps the worker near 260 MB, a parked order is replayed on demand.
    max_cached_workflows: int = Field(500, alias="WORKER_MAX_CACHED_WORKFLOWS")
    graceful_shutdown_seconds: float = Field(20.0, alias="WORKER_GRACEFUL_SHUTDOWN_SECONDS")
    # Worker Versioning (`continuum release`, continuum/release/versioning.py): the worker joins
    # this deployment as this build. Unset: an unversioned worker, as before.
    deployment_name: str | None = Field(None, alias="CONTINUUM_DEPLOYMENT_NAME")
    build_id: str | None = Field(None, alias="CONTINUUM_BUILD_ID")
    # Prometheus /metrics of the worker (SDK and business metrics, see continuum.telemetry);
    # port 0 turns it off. In a container, WORKER_METRICS_HOST=0.0.0.0 lets Prometheus in.
    worker_metrics_host: str = Field("127.0.0.1", alias="WORKER_METRICS_HOST")
    worker_metrics_port: int = Field(9464, ge=0, le=65535, alias="WORKER_METRICS_PORT")
    # How often the worker samples the gauges (approvals waiting/overdue, sync lag, quarantine).
    metrics_interval_seconds: float = Field(15.0, gt=0, alias="WORKER_METRICS_INTERVAL_SECONDS")

    # Business policy handed to each order at start (kept in its history, so replays agree).
    # Thresholds, roles, SLAs, business calendar and people: the shipped
    # continuum/defaults/approvals.toml by default; the APPROVAL_* variables below win over it.
    approval_config_file: Path = Field(DEFAULT_APPROVAL_FILE, alias="APPROVAL_CONFIG_FILE")
    approval_amount_threshold: Decimal | None = Field(None, alias="APPROVAL_AMOUNT_THRESHOLD")
    approval_credit_usage: Decimal | None = Field(None, alias="APPROVAL_CREDIT_USAGE")
    approval_deadline_hours: float = Field(48.0, alias="APPROVAL_DEADLINE_HOURS")
    # Procure-to-pay's policy (approval chain, tolerances, exception reviewers, the supplier's
    # confirmation deadline): continuum/defaults/purchasing.toml by default; its people and
    # calendar are the approval policy's.
    purchasing_config_file: Path = Field(DEFAULT_PURCHASING_FILE, alias="PURCHASING_CONFIG_FILE")
    # Approval reminders and escalations are POSTed here; unset: a structured log line.
    notify_webhook_url: str | None = Field(None, alias="NOTIFY_WEBHOOK_URL")
    # Alerts (the ops worker's delivery): e-mail receivers through this SMTP server; webhook
    # receivers signed with ALERT_WEBHOOK_SECRET[_<RECEIVER>] and apprise URLs' ${ALERT_...}
    # parts read from the environment; log receivers write to ALERT_LOG_FILE.
    alert_smtp_host: str | None = Field(None, alias="ALERT_SMTP_HOST")
    alert_smtp_port: int | None = Field(None, ge=1, le=65535, alias="ALERT_SMTP_PORT")
    alert_smtp_security: Literal["insecure", "starttls", "ssl"] = Field(
        "starttls", alias="ALERT_SMTP_SECURITY"
    )
    alert_smtp_user: str | None = Field(None, alias="ALERT_SMTP_USER")
    alert_smtp_password: SecretStr = Field(SecretStr(""), alias="ALERT_SMTP_PASSWORD")
    alert_smtp_from: str = Field("continuum@localhost", alias="ALERT_SMTP_FROM")
    alert_log_file: Path | None = Field(None, alias="ALERT_LOG_FILE")  # <data dir>/alerts.log
    delivery_deadline_hours: float = Field(72.0, alias="DELIVERY_DEADLINE_HOURS")

    # Schedules (`continuum schedules apply`) and the daily report.
    sync_every_minutes: int = Field(5, ge=1, le=1440, alias="SYNC_EVERY_MINUTES")
    report_time: str = Field("06:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", alias="REPORT_TIME")
    report_timezone: str = Field("Europe/Berlin", alias="REPORT_TIMEZONE")
    # A missed run (server down) still runs when it comes back within this window.
    schedule_catchup_window_minutes: int = Field(
        60 * 24, ge=1, alias="SCHEDULE_CATCHUP_WINDOW_MINUTES"
    )
    reports_dir: Path = Field(Path("reports"), alias="REPORTS_DIR")
    report_webhook_url: str | None = Field(None, alias="REPORT_WEBHOOK_URL")
    report_webhook_token: SecretStr = Field(SecretStr(""), alias="REPORT_WEBHOOK_TOKEN")

    # The watchdog (issue 14): its rules, routes and receivers; how often the schedule runs it;
    # the ops worker's Prometheus /metrics (its dead-man's switch gauge), 0 turns it off.
    watchdog_config_file: Path = Field(DEFAULT_WATCHDOG_FILE, alias="WATCHDOG_CONFIG_FILE")
    watchdog_every_seconds: int = Field(60, ge=1, le=3600, alias="WATCHDOG_EVERY_SECONDS")
    ops_metrics_host: str = Field("127.0.0.1", alias="OPS_METRICS_HOST")
    ops_metrics_port: int = Field(9465, ge=0, le=65535, alias="OPS_METRICS_PORT")

    # Business events (issue 20): subscribers, broker, privacy; continuum/defaults/events.toml.
    events_config_file: Path = Field(DEFAULT_EVENTS_FILE, alias="EVENTS_CONFIG_FILE")

    @property
    def erp(self) -> ErpBackend:
        return ERP_BACKENDS[self.erp_backend]

    @property
    def alert_log_path(self) -> Path:
        return self.alert_log_file or self.data_dir / "alerts.log"

    @property
    def sync_store_path(self) -> Path:
        return self.sync_db or self.data_dir / "sync.db"

    @property
    def store_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'continuum.db'}"

    @property
    def legacy_store_files(self) -> list[Path]:
        """Today's SQLite files, carried into the store on its first start."""
        return [self.sync_store_path, self.data_dir / "gateway.db"]

    def approval_policy(self) -> ApprovalPolicy:
        return load_approval_policy(
            self.approval_config_file,
            amount_threshold=self.approval_amount_threshold,
            credit_usage_threshold=self.approval_credit_usage,
            deadline=timedelta(hours=self.approval_deadline_hours),
        )

    def events_config(self) -> EventsConfig:
        return load_events_config(self.events_config_file)

    def purchasing_policy(self) -> PurchasingPolicy:
        return load_purchasing_policy(self.purchasing_config_file, self.approval_policy())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
