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
    if settings.erp_backend == "tryton":
        path = settings.tryton_credentials_file
        if path is None:
            raise ConfigurationError(
                "ERP_BACKEND=tryton needs TRYTON_CREDENTIALS_FILE: the api-credentials.json "
                "that `python -m services.tryton setup --dir D` writes under D"
            )
        if not path.is_file():
            raise ConfigurationError(
                f"TRYTON_CREDENTIALS_FILE {path} does not exist: "
                "run `python -m services.tryton setup --dir D` first"
            )
        from connectors.tryton import TrytonErpClient

        return TrytonErpClient.from_settings(settings)
    token = settings.erp_api_token.get_secret_value()
    if not token:
        raise ConfigurationError("ERP_API_TOKEN is not set")
    return ReferenceErpClient(settings.erp_url, token, timeout=settings.http_timeout_seconds)


def build_crm(settings: Settings) -> CrmPort:
    token = settings.crm_api_token.get_secret_value()
    if not token:
        raise ConfigurationError("CRM_API_TOKEN is not set")
    return HubSpotCrmClient(
        settings.crm_url, access_token=token, timeout=settings.http_timeout_seconds
    )
