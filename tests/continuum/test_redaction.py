"""Logs never print secrets, keys or personal fields."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum.redaction import (
    RedactingFilter,
    Redactor,
    could_match,
    environment_secrets,
    mask_patterns,
)
from tests import samples

TOKEN = "tok-3f9a8b7c6d5e4f3a2b1c"


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose handler masks, as every handler does once `setup_logging` ran."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter(Redactor([TOKEN])))
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, out
    finally:
        logger.removeHandler(handler)


def test_messages_and_arguments_are_masked(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = logged
    order = samples.order(order_id="R-1")
    logger.info("order %s for %s", order, order.customer.email)
    logger.info("model %r", order.shipping_address)
    logger.info('payload {"email": "ada@example.com", "phone": "+49 30 1234", "city": "Berlin"}')
    logger.info("calling with Authorization: Bearer %s", "abc.def.ghi")
    logger.info("config api_key=%s and %s", "k-0123456789", TOKEN)
    logger.info("%d orders, %.1f%% done", 3, 50.0)
    text = out.getvalue()
    for secret in ("c-100@example.com", "ada@example.com", "1 Main St", "+49 30 1234"):
        assert secret not in text
    for secret in ("abc.def.ghi", "k-0123456789", TOKEN):
        assert secret not in text
    # What is not personal stays readable.
    assert "R-1" in text and "Berlin" in text and "3 orders, 50.0% done" in text
    assert "street='<redacted>'" in text


def test_exceptions_and_stack_traces_are_masked(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = logged
    try:
        raise ValueError(f"'ada@example.com' rejected with token {TOKEN}")
    except ValueError:
        logger.exception("order failed")
    text = out.getvalue()
    assert "ValueError" in text and "order failed" in text
    assert "ada@example.com" not in text and TOKEN not in text


def test_secret_environment_variables_are_found() -> None:
    env = {
        "ERP_API_TOKEN": "erp-token-value",
        "TEMPORAL_API_KEY": "temporal-key-value",
        "CONTINUUM_CODEC_KEYS": "a:AAAA1111bbbb,b:CCCC2222dddd",
        "ERP_URL": "http://127.0.0.1:8101",
    }
    found = environment_secrets(env)
    assert {"erp-token-value", "temporal-key-value", "AAAA1111bbbb", "CCCC2222dddd"} <= set(found)
    assert "http://127.0.0.1:8101" not in found


def test_a_process_that_set_up_logging_masks_every_logger() -> None:
    """A real process: env secrets, the codec keys, the SDK's and uvicorn's loggers."""
    script = """
import logging
from continuum.logs import setup_logging
setup_logging()
logging.getLogger("temporalio.worker").warning("activity failed for ada@example.com")
logging.getLogger("services.erp").info("ERP token is %s", "erp-secret-1234567")
logging.getLogger("uvicorn.access").info(
    '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", "/decode", "1.1", 200
)
try:
    raise RuntimeError("key AAAAaaaaBBBBbbbbCCCCccccDDDDddddEEEEeeeeFFF= leaked")
except RuntimeError:
    logging.getLogger("continuum.worker").exception("boom")
"""
    env = {
        **os.environ,
        "ERP_API_TOKEN": "erp-secret-1234567",
        "CONTINUUM_CODEC_KEYS": "k1:AAAAaaaaBBBBbbbbCCCCccccDDDDddddEEEEeeeeFFF=",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    log = done.stderr
    assert "activity failed for <email>" in log
    assert "ERP token is <redacted>" in log
    assert '"POST /decode HTTP/1.1" 200' in log
    assert "RuntimeError" in log and "boom" in log
    for secret in ("ada@example.com", "erp-secret-1234567", "AAAAaaaaBBBB"):
        assert secret not in log


# Text built from the patterns' words in any case, separators, quotes, "@" and letters that
# match ASCII ones only when case is ignored ("ſ", "K", "ı", "İ").
_PIECES = st.sampled_from(
    [
        "Bearer ",
        "basic ",
        "TOKEN",
        "api_key",
        "Api-Key",
        "apikey",
        "password",
        "passwd",
        "secret",
        "codec_keys",
        "email",
        "E-Mail",
        "street",
        "address",
        "phone",
        "=",
        ": ",
        '"',
        "'",
        "@",
        ".com",
        "abc",
        "x9",
        " ",
        "/crm/v3/objects/deals",
        "POST",
        "ſ",
        "\u212a",
        "ı",
        "İ",
        "pa",
        "ken",
        "to",
    ]
)


@given(st.lists(_PIECES, max_size=12).map("".join))
def test_the_quick_check_never_skips_text_a_pattern_would_mask(text: str) -> None:
    assert Redactor()(text) == mask_patterns(text)
    if not could_match(text):
        assert mask_patterns(text) == text


def test_ordinary_request_lines_skip_the_patterns_and_personal_ones_do_not() -> None:
    assert not could_match('127.0.0.1:51234 - "POST /api/reservations HTTP/1.1" 201')
    assert could_match("ada@example.com") and could_match("to\u212aen=abc")
    assert Redactor()('{"Street": "1 Main St"}') == '{"Street": "<redacted>"}'
