"""Build the ERP and CRM clients the configuration names.

The ERP is the backend ERP_BACKEND names in `continuum.erp_backends`; its connector is imported
here, by its dotted path, so that only the chosen one is loaded and the kernel imports none.
"""

from __future__ import annotations

from collections.abc import Callable
from pkgutil import resolve_name
from typing import cast

from connectors.hubspot import HubSpotCrmClient
from continuum.settings import Settings
from domain.crm import CrmPort
from domain.erp import ErpPort


class ConfigurationError(RuntimeError):
    pass


def build_erp(settings: Settings) -> ErpPort:
    backend = settings.erp
    problem = backend.configuration_problem(settings)
    if problem:
        raise ConfigurationError(problem)
    factory = cast(Callable[[Settings], ErpPort], resolve_name(backend.connector))
    return factory(settings)


def build_crm(settings: Settings) -> CrmPort:
    token = settings.crm_api_token.get_secret_value()
    if not token:
        raise ConfigurationError("CRM_API_TOKEN is not set")
    return HubSpotCrmClient(
        settings.crm_url, access_token=token, timeout=settings.http_timeout_seconds
    )
