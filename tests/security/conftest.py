"""Probes of the audit (issue 13): each proves a hole is closed on the real process."""

from tests.services.test_codec_api import codec

__all__ = ["codec"]
