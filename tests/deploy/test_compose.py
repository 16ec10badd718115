"""docker-compose.yml and deploy/, validated without a Docker engine.

The compose file is interpolated as `docker compose` would with .env.example's names and then
validated against the compose specification's JSON schema (the copy check-jsonschema ships,
pinned in the dev extra). Around it: images pinned, host ports unique, every variable defaulted
or documented, each service's environment complete and named as the code reads it, and the
Prometheus, Alertmanager, Grafana and collector files parse and refer to metrics and services
that exist.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from temporalio.envconfig import ClientConfigProfile

from continuum import telemetry
from continuum.codec import KEY_FILE_ENV, KEYS_ENV
from continuum.defaults import WEBHOOKS
from continuum.search_attributes import dev_server_flags
from continuum.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY = ROOT / "deploy"
PROJECT_SERVICES = ("codec", "worker", "gateway", "erp", "crm")
# `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`, `${NAME?error}`.
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
METRIC = re.compile(r"\b((?:continuum|temporal)_[a-z0-9_]+)\b")
# The SDK's metrics the dashboards use, as a worker's /metrics serves them (temporalio 1.35);
# `temporal_activity_execution_failed_total` appears after the first failed attempt.
SDK_METRICS = {
    "temporal_activity_execution_failed_total",
    "temporal_activity_execution_latency",
    "temporal_activity_schedule_to_start_latency",
    "temporal_workflow_task_schedule_to_start_latency",
    "temporal_worker_task_slots_used",
    "temporal_worker_task_slots_available",
    "temporal_workflow_completed_total",
    "temporal_request_total",
    # Temporal's recommended worker alerts (deploy/prometheus/rules/temporal-workers.yml).
    "temporal_num_pollers",
    "temporal_workflow_task_execution_failed_total",
    "temporal_request_failure_total",
    "temporal_long_request_failure_total",
}
# The ops worker's heartbeat of the watchdog: its dead-man's switch (rules/watchdog.yml).
WATCHDOG_METRICS = {"continuum_watchdog_last_run_timestamp_seconds"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SCRAPE_UP = re.compile(r'\bup\{job="([^"]+)"\}')


def documented_variables() -> set[str]:
    """Names .env.example lists: the required ones set, the optional ones commented out."""
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))


def required_in_example() -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=$", ENV_EXAMPLE.read_text(), re.M))


def filled_in_env() -> dict[str, str]:
    """A .env made from the example: every required secret given, every option left out."""
    return {name: f"value-of-{name.lower()}" for name in required_in_example()}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution over a loaded document."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in env and (env[name] or not (op or "").startswith(":")):
            return env[name]
        if op in (":?", "?"):
            raise AssertionError(f"${{{name}}} is required: {arg}")
        return arg or ""

    return VARIABLE.sub(one, value)


@cache
def raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@cache
def compose() -> dict[str, Any]:
    """As `docker compose config` would see it with a filled-in .env."""
    resolved: dict[str, Any] = interpolate(raw(), filled_in_env())
    return resolved


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def environment(service: str) -> dict[str, str]:
    env = services()[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


@cache
def compose_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    loaded: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return loaded


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_the_compose_file_follows_the_compose_specification() -> None:
    assert schema_errors(compose()) == []


def test_the_schema_check_catches_mistakes() -> None:
    broken = json.loads(json.dumps(compose()))
    broken["services"]["worker"]["restart_policy"] = "always"  # not a service key
    broken["services"]["erp"]["ports"] = "8101:8101"  # a list, not a string
    errors = schema_errors(broken)
    assert any("restart_policy" in e for e in errors), errors
    assert any("'ports'" in e for e in errors), errors


def test_every_variable_has_a_default_or_is_documented() -> None:
    documented = documented_variables()
    used: set[str] = set()
    for match in VARIABLE.finditer(COMPOSE.read_text()):
        name, op = match.group(1), match.group(2)
        used.add(name)
        if op in (None, ":?", "?"):
            assert name in required_in_example(), f"${{{name}}} has no default: list it in .env"
        else:
            assert name in documented, f"${{{name}}} is not in .env.example"
    assert documented <= used, f"stale in .env.example: {documented - used}"


def test_a_missing_secret_stops_compose_with_its_name() -> None:
    env = filled_in_env()
    del env["STACK_CODEC_KEYS"]
    with pytest.raises(AssertionError, match="STACK_CODEC_KEYS"):
        interpolate(raw(), env)


def test_every_image_is_pinned() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in services().items():
        image = service.get("image", "")
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image!r} is not a version"
        if "build" in service:
            assert tag == version, f"{name}: the project's image is tagged {tag}, not {version}"


def host_ports() -> Iterator[tuple[str, str]]:
    for name, service in services().items():
        for port in service.get("ports", []):
            text = str(port) if not isinstance(port, dict) else str(port["published"])
            parts = text.split(":")
            assert len(parts) >= 2, f"{name}: {text} publishes a random port"
            yield name, parts[-2]


def test_host_ports_are_unique() -> None:
    seen: dict[str, str] = {}
    for name, port in host_ports():
        assert port not in seen, f"host port {port} of {name} is also {seen[port]}'s"
        seen[port] = name


def test_what_has_no_login_of_its_own_is_published_on_loopback_only() -> None:
    # Temporal's gRPC (terminate, reset: no payload for the strict codec to refuse), the Web UI,
    # the codec endpoint (a decryption oracle), Jaeger and Prometheus have no login here.
    private = {"temporal", "temporal-ui", "codec", "jaeger", "prometheus", "alertmanager"}
    for name, service in services().items():
        for port in service.get("ports", []):
            bound = str(port).startswith("127.0.0.1:")
            assert bound or name not in private, f"{name} publishes {port} on every interface"
    ui = environment("temporal-ui")
    assert ui["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"


def test_the_worker_scales() -> None:
    worker = services()["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["stop_grace_period"] == "30s"
    grace = float(environment("worker")["WORKER_GRACEFUL_SHUTDOWN_SECONDS"])
    assert grace < 30, "the stop grace period must outlast the worker's own drain"


def names_the_code_reads() -> set[str]:
    aliases = {f.alias for f in Settings.model_fields.values() if f.alias}
    source = (ROOT / "continuum" / "telemetry.py").read_text()
    source += (ROOT / "continuum" / "logs.py").read_text()
    others = {n for n in ("OTEL_EXPORTER_OTLP_ENDPOINT", "LOG_LEVEL") if f'"{n}"' in source}
    return aliases | others | {KEYS_ENV, KEY_FILE_ENV}


def test_the_workers_settings_are_the_names_the_code_reads() -> None:
    env = environment("worker")
    temporal = {k: v for k, v in env.items() if k.startswith("TEMPORAL_")}
    unknown = set(env) - set(temporal) - names_the_code_reads()
    assert not unknown, f"the worker reads no {sorted(unknown)}"
    # Temporal's envconfig takes each TEMPORAL_* value...
    profile = ClientConfigProfile.load(override_env_vars=temporal).to_dict()
    assert profile["address"] == env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert profile["namespace"] == env["TEMPORAL_NAMESPACE"]
    assert len(profile) == len(temporal)
    # ...and the settings take every other one, with a value of the right type.
    settings = Settings.model_validate({k: v for k, v in env.items() if k not in temporal})
    assert settings.erp_url == "http://erp:8101" and settings.crm_url == "http://crm:8102"
    assert settings.worker_metrics_host == "0.0.0.0"
    assert settings.erp_api_token.get_secret_value() == env["ERP_API_TOKEN"]


def test_the_ops_workers_settings_are_the_names_the_code_reads() -> None:
    env = environment("ops-worker")
    unknown = {k for k in env if not k.startswith("TEMPORAL_")} - names_the_code_reads()
    assert not unknown, f"the ops worker reads no {sorted(unknown)}"
    assert "ports" not in services()["ops-worker"]
    # The business worker's store: the watchdog reads the sync's, repairs write the audit.
    assert env["CONTINUUM_DATABASE_URL"] == environment("worker")["CONTINUUM_DATABASE_URL"]
    # Its volume holds only its alert log; the store is on PostgreSQL (tests/replicas).
    assert services()["ops-worker"]["volumes"] == ["ops-data:/data"]


def test_every_services_environment_is_complete() -> None:
    required = {
        "worker": {"TEMPORAL_ADDRESS", KEYS_ENV, "ERP_URL", "ERP_API_TOKEN", "CRM_URL"},
        "gateway": {"TEMPORAL_ADDRESS", KEYS_ENV, "GATEWAY_SESSION_SECRET"},
        "codec": {KEYS_ENV},
        "erp": {"ERP_API_TOKEN", "ERP_ADMIN_TOKEN"},
        "crm": {"CRM_API_TOKEN", "CRM_ADMIN_TOKEN"},
    }
    required["worker"] |= {"CRM_API_TOKEN", "WORKER_METRICS_HOST", "WORKER_METRICS_PORT"}
    webhooks = tomllib.loads(WEBHOOKS.read_text())["sources"]
    required["gateway"] |= {"GATEWAY_ALERTMANAGER_TOKEN"}
    required["gateway"] |= {f"WEBHOOK_SECRET_{s.upper().replace('-', '_')}" for s in webhooks}
    for name, wanted in required.items():
        missing = wanted - set(environment(name))
        assert not missing, f"{name} lacks {sorted(missing)}"
    # One keyring for all who touch payloads; one token per service on both sides.
    keys = {raw()["services"][s]["environment"][KEYS_ENV] for s in ("worker", "gateway", "codec")}
    assert len(keys) == 1
    assert environment("worker")["ERP_API_TOKEN"] == environment("erp")["ERP_API_TOKEN"]
    assert environment("worker")["CRM_API_TOKEN"] == environment("crm")["CRM_API_TOKEN"]
    for name in PROJECT_SERVICES:
        assert environment(name)["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"


def test_the_web_ui_uses_the_codec_endpoint_and_the_codec_admits_only_the_ui() -> None:
    ports = dict((name, port) for name, port in host_ports())
    ui = environment("temporal-ui")
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{ports['codec']}"
    origins = [a.split("=", 1)[1] for a in services()["codec"]["command"] if "--ui-origin" in a]
    ui_port = ports["temporal-ui"]
    assert sorted(origins) == [f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"]


def test_the_namespace_job_registers_the_search_attributes_the_code_writes() -> None:
    script = (DEPLOY / "temporal" / "create-namespace.sh").read_text()
    listed = re.findall(r"^\s+(\w+=\w+)(?: \\)?$", script, re.M)
    assert listed == dev_server_flags()[1::2]


def test_every_mounted_file_exists() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def known_metric(name: str) -> bool:
    counters = [telemetry.ORDERS_COMPLETED, telemetry.ORDERS_COMPENSATED, telemetry.ORDERS_FAILED]
    gauges = [
        telemetry.APPROVALS_WAITING,
        telemetry.APPROVALS_OVERDUE,
        telemetry.SYNC_LAG,
        telemetry.SYNC_QUARANTINE,
        telemetry.WORKER_READY,
    ]
    known = {f"{c}_total" for c in counters} | set(gauges) | SDK_METRICS | WATCHDOG_METRICS
    known |= {f"{telemetry.ORDER_DURATION}{s}" for s in HISTOGRAM_SUFFIXES}
    known |= {f"{m}{s}" for m in SDK_METRICS for s in HISTOGRAM_SUFFIXES}
    return name in known


def assert_known_metrics(expr: str, where: str, jobs: frozenset[str] = frozenset()) -> None:
    used = METRIC.findall(expr)
    # Prometheus's own `up` of a scrape job: whether a worker answers at all.
    scraped = set(SCRAPE_UP.findall(expr))
    assert used or scraped, f"{where}: {expr!r} uses no Continuum or Temporal metric"
    assert scraped <= jobs, f"{where}: no scrape job {sorted(scraped - jobs)}"
    unknown = [m for m in used if not known_metric(m)]
    assert not unknown, f"{where}: no such metric {unknown}"


def load_yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_prometheus_scrapes_every_worker_and_its_rules_parse() -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    [dns] = jobs["continuum-worker"]["dns_sd_configs"]
    assert dns["names"] == ["worker"]
    assert str(dns["port"]) == environment("worker")["WORKER_METRICS_PORT"]
    [ops] = jobs["continuum-ops"]["dns_sd_configs"]
    assert ops["names"] == ["ops-worker"]
    assert str(ops["port"]) == environment("ops-worker")["OPS_METRICS_PORT"]
    assert environment("ops-worker")["OPS_METRICS_HOST"] == "0.0.0.0"
    assert jobs["temporal-server"]["static_configs"][0]["targets"] == ["temporal:8000"]
    assert environment("temporal")["PROMETHEUS_ENDPOINT"] == "0.0.0.0:8000"
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    [alertmanagers] = config["alerting"]["alertmanagers"]
    [target] = alertmanagers["static_configs"][0]["targets"]
    assert target.split(":")[0] in services()

    rules = [r for f in (DEPLOY / "prometheus" / "rules").glob("*.yml") for r in rules_in(f)]
    assert {r["alert"] for r in rules} >= {
        "OrderSuccessRateLow",
        "ApprovalsOverdue",
        "SyncLagging",
        "ActivityFailureRateHigh",
        "TemporalNoPollers",
        "TemporalNonDeterminism",
        "ContinuumWatchdogStopped",
    }
    for rule in rules:
        # The Alert contract's severities: the gateway raises an Alert workflow of each.
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook"]
        assert_known_metrics(rule["expr"], rule["alert"], frozenset(jobs))


def test_alertmanager_sends_to_the_gateway_with_the_gateways_token() -> None:
    config = load_yaml(DEPLOY / "alertmanager" / "alertmanager.yml")
    receivers = {r["name"]: r for r in config["receivers"]}
    [hook] = receivers[config["route"]["receiver"]]["webhook_configs"]
    assert hook["url"] == "http://gateway:8103/alertmanager" and hook["send_resolved"]
    secret = hook["http_config"]["authorization"]["credentials_file"]
    assert secret == "/run/secrets/alertmanager_gateway_token"
    source = raw()["secrets"]["alertmanager_gateway_token"]["environment"]
    assert source == "STACK_ALERTMANAGER_TOKEN"
    assert "alertmanager_gateway_token" in services()["alertmanager"]["secrets"]
    gateway = raw()["services"]["gateway"]["environment"]["GATEWAY_ALERTMANAGER_TOKEN"]
    assert gateway.startswith("${STACK_ALERTMANAGER_TOKEN:?")


def rules_in(path: Path) -> list[dict[str, Any]]:
    return [rule for group in load_yaml(path)["groups"] for rule in group["rules"]]


def test_grafana_provisioning_parses_and_its_queries_use_real_metrics() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    sources = load_yaml(provisioning / "datasources" / "datasources.yaml")["datasources"]
    uids = {s["uid"] for s in sources}
    assert {"prometheus", "jaeger"} <= uids
    for source in sources:
        host = source["url"].split("//")[1].split(":")[0]
        assert host in services(), f"datasource {source['name']} points at no service"

    [provider] = load_yaml(provisioning / "dashboards" / "dashboards.yaml")["providers"]
    mounts = dict(v.split(":")[:2] for v in services()["grafana"]["volumes"] if v.startswith("."))
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    dashboards = list((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    assert dashboards
    for path in dashboards:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["panels"]
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids
                assert_known_metrics(target["expr"], f"{path.name}: {panel['title']}")

    # One paging path: Prometheus → Alertmanager → the gateway's Alert workflows. Grafana
    # shows; it provisions no alert rules of its own.
    assert not (provisioning / "alerting").exists()


def test_the_collector_sends_traces_to_jaeger() -> None:
    config = load_yaml(DEPLOY / "otel-collector.yaml")
    pipeline = config["service"]["pipelines"]["traces"]
    assert set(pipeline["receivers"]) <= set(config["receivers"])
    assert set(pipeline["exporters"]) <= set(config["exporters"])
    assert set(pipeline["processors"]) <= set(config["processors"])
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    for exporter in pipeline["exporters"]:
        host = config["exporters"][exporter]["endpoint"].split(":")[0]
        assert host in services()
    assert environment("jaeger")["COLLECTOR_OTLP_ENABLED"] == "true"


def test_the_dockerfile_is_pinned_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    [base] = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    for package in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]:
        assert f"COPY {package} ./{package}" in dockerfile, f"{package} is not in the image"
