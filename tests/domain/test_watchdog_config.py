"""The watchdog's configuration: the shipped file is whole, and a mistake is refused in one line
that names the file, the line, the rule and the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from continuum.defaults import WATCHDOG
from domain.alerts.contract import Severity, fingerprint
from domain.business_calendar import (
    BusinessCalendar,
    add_business_time,
    business_time_before,
    business_time_between,
)
from domain.watchdog.config import WatchdogConfigError, parse_config
from domain.watchdog.rules import KINDS, Per, StalledRule
from domain.watchdog.spans import Span

SOURCE = "/etc/continuum/watchdog.toml"
HEAD = """
[receivers.log]
kind = "log"
target = "alerts.log"

[routes.critical]
[[routes.critical.levels]]
receivers = ["log"]
[[routes.critical.levels]]
after = "15m"
receivers = ["log"]
"""


def good_rule(**fields: str) -> str:
    values = {
        "name": '"orders-stuck"',
        "kind": '"stalled"',
        "severity": '"critical"',
        "process": '"order"',
        "status": '["AwaitingDelivery"]',
        "longer_than": '"3bd"',
        "runbook": '"type=order status=AwaitingDelivery"',
        **fields,
    }
    return "\n[[rules]]\n" + "".join(f"{k} = {v}\n" for k, v in values.items() if v)


def refusal(text: str) -> str:
    with pytest.raises(WatchdogConfigError) as caught:
        parse_config(text, SOURCE)
    message = str(caught.value)
    assert "\n" not in message
    return message


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_shipped_configuration_has_a_rule_of_every_kind() -> None:
    config = parse_config(WATCHDOG.read_text(), str(WATCHDOG))
    assert {rule.kind for rule in config.rules} == set(KINDS)
    assert len({rule.name for rule in config.rules}) == len(config.rules)
    for rule in config.rules:
        route = config.route(rule)
        assert route.levels[0].after == timedelta(0)
        alert = config.alert_input(rule, "order-O-1", "summary")
        assert alert.fingerprint == fingerprint(rule.name, "order-O-1")
        assert alert.responders == ["olga", "oscar"]


def test_a_good_rule_reads_as_its_kind() -> None:
    config = parse_config(HEAD + good_rule(), SOURCE)
    rule = config.rule("orders-stuck")
    assert isinstance(rule, StalledRule)
    assert rule.per is Per.RULE and rule.severity is Severity.CRITICAL
    assert rule.longer_than == Span.model_validate("3bd")
    assert config.route(rule).levels[1].after == timedelta(minutes=15)


def test_a_bad_duration_names_the_file_line_rule_and_field() -> None:
    text = HEAD + good_rule() + good_rule(name='"late"', longer_than='"3 days"')
    message = refusal(text)
    assert message.startswith(f"watchdog config {SOURCE} line {line_of(text, '3 days')}:")
    assert "rule 'late', field longer_than: not a duration: '3 days'" in message


def test_an_unknown_status_names_the_status_and_what_would_do() -> None:
    text = HEAD + good_rule(status='["Shipped"]')
    message = refusal(text)
    assert f"line {line_of(text, 'Shipped')}" in message
    assert "rule 'orders-stuck', field" in message
    assert "status Shipped is not a order status" in message and "AwaitingDelivery" in message


def test_an_unknown_kind_is_refused_at_its_rule() -> None:
    text = HEAD + good_rule(kind='"sleepy"')
    message = refusal(text)
    assert f"line {line_of(text, 'sleepy')}" in message
    assert "rule 'orders-stuck'" in message and "stalled" in message


def test_a_missing_field_points_at_the_rule_header() -> None:
    text = HEAD + good_rule() + good_rule(name='"second"', runbook="")
    message = refusal(text)
    headers = [i for i, line in enumerate(text.splitlines(), 1) if line == "[[rules]]"]
    assert f"line {headers[1]}:" in message
    assert "rule 'second', field runbook: Field required" in message


def test_an_unknown_field_is_a_typo_not_ignored() -> None:
    text = HEAD + good_rule(longer_then='"2h"')
    message = refusal(text)
    assert f"line {line_of(text, 'longer_then')}" in message
    assert "field longer_then: Extra inputs are not permitted" in message


def test_a_route_that_does_not_exist_is_refused_at_the_rule() -> None:
    text = HEAD + good_rule(severity='"warning"')
    message = refusal(text)
    assert f"line {line_of(text, 'warning')}" in message
    assert "field severity: no route 'warning' (routes: critical)" in message


def test_a_level_that_names_an_unknown_receiver_is_refused_at_the_level() -> None:
    text = HEAD.replace(
        'after = "15m"\nreceivers = ["log"]', 'after = "15m"\nreceivers = ["pager"]'
    )
    message = refusal(text + good_rule())
    assert f"line {line_of(text, 'pager')}" in message
    assert "field routes.critical.levels.1.receivers: unknown receiver 'pager'" in message


def test_levels_out_of_order_are_refused_at_their_route() -> None:
    text = HEAD + '[[routes.critical.levels]]\nafter = "5m"\nreceivers = ["log"]\n'
    message = refusal(text + good_rule())
    assert f"line {line_of(text, '[routes.critical]')}" in message
    assert "field routes.critical: level 3: `after` must not be earlier than level 2" in message


def test_business_time_only_where_an_allowance_is_judged() -> None:
    text = HEAD + good_rule(kind='"retrying"', longer_than='"2bh"', status="")
    assert "longer_than is clock time here (2bh is business time)" in refusal(text)


def test_two_rules_of_one_name_are_refused() -> None:
    text = HEAD + good_rule() + good_rule()
    message = refusal(text)
    second = [i for i, x in enumerate(text.splitlines(), 1) if "orders-stuck" in x][1]
    assert f"line {second}:" in message
    assert "a second rule named 'orders-stuck'" in message


def test_not_toml_at_all_says_so() -> None:
    assert "not valid TOML" in refusal("[[rules]\nname = ")


# --- business time backwards ------------------------------------------------------------------

CALENDAR = BusinessCalendar(time_zone="Europe/Berlin", holidays=[datetime(2026, 12, 25).date()])


def test_three_business_days_before_a_wednesday_afternoon_is_the_friday_before() -> None:
    wednesday = datetime(2026, 12, 9, 15, 0, tzinfo=UTC)  # 16:00 in Berlin
    friday = business_time_before(CALENDAR, wednesday, timedelta(hours=24))
    assert friday == datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    assert Span.model_validate("3bd").cutoff(wednesday, CALENDAR) == friday


def test_a_weekend_and_a_holiday_do_not_count() -> None:
    monday = datetime(2026, 12, 28, 9, 0, tzinfo=UTC)  # 10:00 in Berlin, after Christmas
    before = business_time_before(CALENDAR, monday, timedelta(hours=2))
    assert before == datetime(2026, 12, 24, 15, 0, tzinfo=UTC)  # Thursday 16:00


@settings(max_examples=200, deadline=None)
@given(
    end=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=0, max_value=60 * 8 * 30),
)
def test_business_time_before_is_the_mirror_of_adding_it(end: datetime, minutes: int) -> None:
    duration = timedelta(minutes=minutes)
    start = business_time_before(CALENDAR, end, duration)
    assert business_time_between(CALENDAR, start, end) == duration
    if minutes:
        assert add_business_time(CALENDAR, start, duration) <= end
