"""Probes of the audit (issue 13): each proves a hole is closed on the real process."""

from tests.services.test_codec_api import codec
from tests.services.test_gateway_service import gateway

__all__ = ["codec", "gateway"]
