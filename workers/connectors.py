"""Pick the ERP and CRM clients the configuration names."""

from __future__ import annotations

from connectors.hubspot import HubSpotCrmClient
from connectors.reference_erp import ReferenceErpClient
from continuum.settings import Settings
from domain.crm import CrmPort
from domain.erp import ErpPort


class ConfigurationError(RuntimeError):
    pass


def build_erp(settings: Settings) -> ErpPort:
    token = settings.erp_api_token.get_secret_value()
    if not token:
        raise ConfigurationError("ERP_API_TOKEN is not set")
    if settings.erp_backend == "tryton":
        from connectors.tryton import TrytonErpClient

        return TrytonErpClient.from_settings(settings)
    return ReferenceErpClient(settings.erp_url, token, timeout=settings.http_timeout_seconds)


def build_crm(settings: Settings) -> CrmPort:
    token = settings.crm_api_token.get_secret_value()
    if not token:
        raise ConfigurationError("CRM_API_TOKEN is not set")
    return HubSpotCrmClient(
        settings.crm_url, access_token=token, timeout=settings.http_timeout_seconds
    )
