"""The Prometheus rules and the Alertmanager routing, checked by their own tools.

`promtool test rules` runs deploy/prometheus/tests/*.test.yml on sample series. Around it: every
alert has a case where it fires and one where it stays silent after its `for` (a rule that never
fires or always fires fails here), and Alertmanager routes each alert to the gateway, the
dead-man's switch to people as well. The tools come from Debian's `prometheus` and
`prometheus-alertmanager` packages (.ci/run installs them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.incidents.query import compile_runbook

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
DEAD_MANS_SWITCH = (
    "ContinuumWatchdogStopped",
    "ContinuumWatchdogNeverRan",
    "ContinuumOpsWorkerDown",
)


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: apt-get install {package} (.ci/run does)")
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def alerts() -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule
        for path in RULE_FILES
        for group in load(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return int(duration[:-1]) * units[duration[-1]]


def test_the_rule_files_are_valid() -> None:
    promtool = tool("promtool", "prometheus")
    checked = run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_rule_passes_its_unit_tests() -> None:
    promtool = tool("promtool", "prometheus")
    tested = run(promtool, "test", "rules", *map(str, TEST_FILES))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.count("SUCCESS") == len(TEST_FILES), tested.stdout


def test_every_alert_is_tested_firing_and_silent() -> None:
    """A case that fires and one that stays silent once its `for` has passed: a rule that
    always fires, or never does, cannot pass both."""
    fired: set[str] = set()
    silent: set[str] = set()
    tested_files: set[Path] = set()
    rules = alerts()
    for path in TEST_FILES:
        spec = load(path)
        tested_files |= {(path.parent / f).resolve() for f in spec["rule_files"]}
        for case in spec["tests"]:
            for check in case.get("alert_rule_test", []):
                name = check["alertname"]
                assert name in rules, f"{path.name} tests {name}, which no rule file defines"
                if check.get("exp_alerts"):
                    fired.add(name)
                elif seconds(check["eval_time"]) > seconds(rules[name].get("for", "0s")):
                    silent.add(name)
    assert tested_files == {p.resolve() for p in RULE_FILES}, "a rule file has no tests"
    assert set(rules) - fired == set(), "never shown to fire"
    assert set(rules) - silent == set(), "never shown to stay silent past its `for`"


def test_a_rule_that_always_fires_fails_its_tests(tmp_path: Path) -> None:
    """The check above has teeth: the same tests on a rule turned always-true fail."""
    promtool = tool("promtool", "prometheus")
    rules = load(PROMETHEUS / "rules" / "continuum.yml")
    for rule in rules["groups"][0]["rules"]:
        if rule["alert"] == "ApprovalsOverdue":
            rule["expr"] = "vector(1)"
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "continuum.yml").write_text(yaml.safe_dump(rules))
    spec = load(PROMETHEUS / "tests" / "continuum.test.yml")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "continuum.test.yml").write_text(yaml.safe_dump(spec))
    tested = run(promtool, "test", "rules", str(tmp_path / "tests" / "continuum.test.yml"))
    assert tested.returncode != 0
    assert "ApprovalsOverdue" in tested.stdout + tested.stderr


def test_the_prometheus_config_is_valid() -> None:
    promtool = tool("promtool", "prometheus")
    checked = run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alertmanager_config_is_valid() -> None:
    amtool = tool("amtool", "prometheus-alertmanager")
    checked = run(amtool, "check-config", str(ALERTMANAGER))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def routed(alertname: str, **labels: str) -> set[str]:
    amtool = tool("amtool", "prometheus-alertmanager")
    pairs = [f"{k}={v}" for k, v in {"alertname": alertname, **labels}.items()]
    answer = run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *pairs)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return set(answer.stdout.strip().split(","))


def test_every_alert_goes_to_the_gateway() -> None:
    for name, rule in alerts().items():
        assert "continuum-gateway" in routed(name, **rule["labels"]), name


def test_the_dead_mans_switch_also_goes_straight_to_people() -> None:
    """The Alert workflows run on the ops worker; when it is what stopped, people still hear."""
    for name in DEAD_MANS_SWITCH:
        assert routed(name, severity="critical") == {"operations-direct", "continuum-gateway"}
    assert routed("OrderSuccessRateLow", severity="critical") == {"continuum-gateway"}


LABEL = re.compile(r"\{\{ \$labels\.(\w+) \}\}")
# What a label stands for in a runbook, as Prometheus would fill it in.
SAMPLE_LABELS = {"workflow_type": "OrderToCash"}


def test_every_runbook_is_an_incident_console_search() -> None:
    """The Alert's runbook is what `continuum incidents find --where "alert=ID"` searches by."""
    for name, rule in alerts().items():
        runbook = LABEL.sub(lambda m: SAMPLE_LABELS[m[1]], rule["annotations"]["runbook"])
        search = compile_runbook(f"alert-{name}", runbook, datetime.now(UTC))
        assert search.query, name
        assert rule["annotations"]["description"], name
