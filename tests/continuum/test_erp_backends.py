"""The ERP registry: every backend's connector resolves, and the worker says what is missing."""

from __future__ import annotations

from pathlib import Path
from pkgutil import resolve_name

import pytest
from pydantic import SecretStr

from continuum.erp_backends import ERP_BACKENDS, ErpBackend
from continuum.settings import Settings
from workers.connectors import ConfigurationError, build_erp


@pytest.mark.parametrize(("name", "backend"), ERP_BACKENDS.items())
def test_each_backend_names_a_connector_factory_that_exists(name: str, backend: ErpBackend) -> None:
    assert backend.name == name
    assert callable(resolve_name(backend.connector))


def test_the_reference_erp_needs_its_token() -> None:
    settings = Settings(ERP_BACKEND="reference", ERP_API_TOKEN=SecretStr(""))
    with pytest.raises(ConfigurationError, match="ERP_API_TOKEN is not set"):
        build_erp(settings)


def test_tryton_needs_an_existing_credentials_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="needs TRYTON_CREDENTIALS_FILE"):
        build_erp(Settings(ERP_BACKEND="tryton", TRYTON_CREDENTIALS_FILE=None))
    missing = tmp_path / "api-credentials.json"
    with pytest.raises(ConfigurationError, match="does not exist"):
        build_erp(Settings(ERP_BACKEND="tryton", TRYTON_CREDENTIALS_FILE=missing))


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="reference"):
        Settings(ERP_BACKEND="sap")
