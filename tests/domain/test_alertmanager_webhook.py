"""Alertmanager's webhook read as the Alert contract: one fingerprint per rule and subject, the
same on every resend; every bad alert refused with one line naming it, before any is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.alerts.alertmanager import (
    MAX_ALERTS,
    AlertmanagerError,
    parse,
    raisings,
)
from domain.alerts.contract import Level, Receiver, ReceiverKind, Route, Severity, fingerprint

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
ROUTE = Route(levels=[Level(receivers=[Receiver(name="log", kind=ReceiverKind.LOG, target="a")])])
ROUTES = {s: ROUTE for s in Severity}


def alert(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "TemporalNoPollers", "severity": "critical", **labels},
        "annotations": {"summary": "No poller", "runbook": "restart the worker"},
        "startsAt": "2026-12-07T09:20:00Z",
        "endsAt": "2026-12-07T09:29:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
        "fingerprint": "c0ffee",
    }


def webhook(*alerts: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "status": "firing",
            "receiver": "continuum-gateway",
            "groupKey": "{}:{}",
            "alerts": list(alerts),
        }
    ).encode()


def read(body: bytes) -> list[Any]:
    return raisings(parse(body), ROUTES, ["olga"], NOW)


def test_a_firing_alert_raises_its_rule_and_subject() -> None:
    [r] = read(webhook(alert(task_queue="continuum-orders", poller_type="workflow_task")))
    assert r.input.rule == "TemporalNoPollers"
    assert r.input.subject == "poller_type=workflow_task, task_queue=continuum-orders"
    assert r.input.fingerprint == fingerprint("TemporalNoPollers", r.input.subject)
    assert r.input.severity is Severity.CRITICAL and r.input.source == "alertmanager"
    assert r.input.for_ == timedelta(0) and r.input.clear_after == timedelta(0)
    assert r.input.responders == ["olga"] and r.input.runbook == "restart the worker"
    assert r.firing and r.observation.at == datetime(2026, 12, 7, 9, 20, tzinfo=UTC)
    assert "prometheus:9090" in r.observation.detail


def test_a_resend_and_its_resolution_are_the_same_alert() -> None:
    first = read(webhook(alert(task_queue="q")))[0]
    again = read(webhook(alert(task_queue="q")))[0]
    resolved = read(webhook(alert("resolved", task_queue="q")))[0]
    other = read(webhook(alert(task_queue="other")))[0]
    assert first.input.fingerprint == again.input.fingerprint == resolved.input.fingerprint
    assert other.input.fingerprint != first.input.fingerprint
    assert not resolved.firing
    assert resolved.observation.at == datetime(2026, 12, 7, 9, 29, tzinfo=UTC)


def test_the_severity_is_no_part_of_the_subject() -> None:
    warning = read(webhook(alert(severity="warning", task_queue="q")))[0]
    critical = read(webhook(alert(task_queue="q")))[0]
    assert warning.input.subject == critical.input.subject == "task_queue=q"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("critical", Severity.CRITICAL), ("page", Severity.CRITICAL), ("ticket", Severity.WARNING),
     ("warning", Severity.WARNING), ("info", Severity.INFO), ("INFO", Severity.INFO)],
)  # fmt: skip
def test_severities_are_the_contracts(given: str, expected: Severity) -> None:
    assert read(webhook(alert(severity=given)))[0].input.severity is expected


def test_an_unknown_severity_still_pages_and_says_so() -> None:
    [r] = read(webhook(alert(severity="high")))
    assert r.input.severity is Severity.WARNING
    assert "severity 'high' is unknown; taken as warning" in r.observation.detail


def test_an_alert_without_labels_beyond_its_rule_is_about_everything() -> None:
    body = alert()
    body["labels"] = {"alertname": "ContinuumWorkerDown"}
    [r] = read(webhook(body))
    assert r.input.subject == "all" and r.input.summary == "No poller"


def test_times_never_lie_in_the_future() -> None:
    body = alert()
    body["startsAt"] = "2027-01-01T00:00:00Z"  # a clock ahead of the gateway's
    assert read(webhook(body))[0].observation.at == NOW


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body: not valid JSON"),
        (webhook(alert(status="pending")), "alerts.0.status: Input should be 'firing' or"),
        (json.dumps({"version": "3", "status": "firing", "alerts": [alert()]}).encode(),
         "version: Input should be '4'"),
        (webhook(), "alerts: List should have at least 1 item"),
        (webhook(*[alert()] * (MAX_ALERTS + 1)), f"alerts: List should have at most {MAX_ALERTS}"),
        (webhook(alert(), {**alert(), "startsAt": "yesterday"}), "alerts.1.startsAt:"),
    ],
)  # fmt: skip
def test_a_malformed_webhook_is_refused_with_one_line(body: bytes, message: str) -> None:
    with pytest.raises(AlertmanagerError) as refused:
        read(body)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_one_bad_rule_name_refuses_the_whole_webhook() -> None:
    bad = alert()
    bad["labels"]["alertname"] = "no spaces allowed"
    with pytest.raises(AlertmanagerError, match=r"^alerts\.1\.labels\.alertname: 'no spaces"):
        read(webhook(alert(), bad))
    del bad["labels"]["alertname"]
    with pytest.raises(AlertmanagerError, match=r"alerts\.0\.labels\.alertname: missing"):
        read(webhook(bad))


def test_a_severity_without_a_route_is_refused() -> None:
    with pytest.raises(AlertmanagerError, match="no alert route for severity info"):
        raisings(parse(webhook(alert(severity="info"))), {Severity.CRITICAL: ROUTE}, [], NOW)
