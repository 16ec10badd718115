"""A service that calls nothing further makes no server spans when its process exports none
(they could only be thrown away); exporting is what the environment configures."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from continuum.telemetry import exporting, instrument_app


def test_exporting_follows_the_otlp_endpoint_or_the_console_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("CONTINUUM_TRACE_CONSOLE", raising=False)
    assert not exporting()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", " ")
    assert not exporting()
    monkeypatch.setenv("CONTINUUM_TRACE_CONSOLE", "1")
    assert exporting()
    monkeypatch.delenv("CONTINUUM_TRACE_CONSOLE")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert exporting()


def test_a_leaf_service_that_exports_nothing_is_left_uninstrumented(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("CONTINUUM_TRACE_CONSOLE", raising=False)
    app = FastAPI()
    assert instrument_app(app, "erp", calls_out=False) is app
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert app.user_middleware == []
