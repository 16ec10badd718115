"""The watchdog's configuration: receivers, routes (severity → receivers per level) and rules.

Read from TOML text (the kernel reads the file: `continuum.watchdog`). A mistake is refused
whole, in one line naming the file, the line, the rule and the field, so that nothing starts on
a configuration half understood.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from domain.alerts.contract import (
    AlertInput,
    Level,
    Receiver,
    ReceiverKind,
    Route,
    fingerprint,
)
from domain.alerts.routing import route_problems
from domain.business_calendar import BusinessCalendar
from domain.toml_lines import Loc, line_of
from domain.watchdog.rules import KINDS, Rule, clock_span
from domain.watchdog.spans import Span


class WatchdogConfigError(ValueError):
    """The configuration is wrong; the message is one line that says where and why."""


class ReceiverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ReceiverKind
    target: str = Field(min_length=1)


class LevelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    after: Span = Span.model_validate("0s")  # after the alert fired; level 1 at once
    receivers: list[str] = Field(min_length=1)
    people: list[str] = Field(default_factory=list)  # who may acknowledge at this level

    @field_validator("after")
    @classmethod
    def _clock_time(cls, span: Span) -> Span:
        return clock_span(span, "after")


class RouteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: list[LevelConfig] = Field(min_length=1)
    repeat_every: Span = Span.model_validate("1h")

    @field_validator("repeat_every")
    @classmethod
    def _clock_time(cls, span: Span) -> Span:
        return clock_span(span, "repeat_every")


class WatchdogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: dict[str, ReceiverConfig] = Field(default_factory=dict)
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    # Who may acknowledge or silence any alert (e.g. the operations role's members).
    responders: list[str] = Field(default_factory=list)
    # Business time for `stalled` rules; None: the approval policy's calendar.
    calendar: BusinessCalendar | None = None

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(f"no watchdog rule {name!r}")

    def route(self, rule: Rule) -> Route:
        return self.route_named(rule.route or rule.severity.value)

    def route_named(self, name: str) -> Route:
        config = self.routes[name]
        return Route(
            levels=[
                Level(
                    after=level.after.as_timedelta(),
                    receivers=[self._receiver(name) for name in level.receivers],
                    people=level.people,
                )
                for level in config.levels
            ],
            repeat_every=config.repeat_every.as_timedelta(),
        )

    def _receiver(self, name: str) -> Receiver:
        found = self.receivers[name]
        return Receiver(name=name, kind=found.kind, target=found.target)

    def alert_input(self, rule: Rule, subject: str, summary: str) -> AlertInput:
        """What the watchdog starts the condition's Alert with (its id: the fingerprint)."""
        return AlertInput(
            fingerprint=fingerprint(rule.name, subject),
            rule=rule.name,
            severity=rule.severity,
            subject=subject,
            summary=summary,
            runbook=rule.runbook,
            route=self.route(rule),
            for_=rule.for_.as_timedelta(),
            clear_after=rule.clear_after.as_timedelta(),
            responders=self.responders,
        )


def _references(config: WatchdogConfig) -> Iterable[tuple[Loc, str]]:
    """Names that point nowhere (a rule's route, a level's receivers) and routes an Alert cannot
    follow."""
    for name, route in config.routes.items():
        unknown = False
        for index, level in enumerate(route.levels):
            for receiver in level.receivers:
                if receiver not in config.receivers:
                    unknown = True
                    known = ", ".join(config.receivers) or "none defined"
                    yield (
                        ("routes", name, "levels", index, "receivers"),
                        f"unknown receiver {receiver!r} (receivers: {known})",
                    )
        # What an Alert can use (levels in order, repeats not too often): the Alert's own rules.
        for problem in [] if unknown else route_problems(config.route_named(name)):
            yield ("routes", name), problem
    seen: set[str] = set()
    for index, rule in enumerate(config.rules):
        if rule.name in seen:
            yield ("rules", index, "name"), f"a second rule named {rule.name!r}"
        seen.add(rule.name)
        wanted = rule.route or rule.severity.value
        if wanted not in config.routes:
            field = "route" if rule.route else "severity"
            known = ", ".join(config.routes) or "none defined"
            yield ("rules", index, field), f"no route {wanted!r} (routes: {known})"


def parse_config(text: str, source: str) -> WatchdogConfig:
    """The configuration in `text` (TOML) read from `source`; one-line WatchdogConfigError."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise WatchdogConfigError(f"watchdog config {source}: not valid TOML: {err}") from None
    try:
        config = TypeAdapter(WatchdogConfig).validate_python(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = _without_tags(tuple(first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "kind")
            tag = (first.get("ctx") or {}).get("tag")
            kinds = ", ".join(KINDS)
            message = f"unknown kind {tag!r} (one of {kinds})" if tag else f"one of {kinds}"
        raise WatchdogConfigError(_where(source, text, data, loc, message)) from None
    for loc, message in _references(config):
        raise WatchdogConfigError(_where(source, text, data, loc, message))
    return config


def _without_tags(loc: Loc) -> Loc:
    """Pydantic puts the union member's tag after a rule's index (rules, 3, stalled, field)."""
    if len(loc) > 2 and loc[0] == "rules" and isinstance(loc[1], int):
        return (*loc[:2], *loc[3:])
    return loc


def _where(source: str, text: str, data: dict[str, Any], loc: Loc, message: str) -> str:
    line = line_of(text, loc)
    at = f" line {line}" if line else ""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") or []
        rule = rules[loc[1]] if loc[1] < len(rules) and isinstance(rules[loc[1]], dict) else {}
        name = rule.get("name") or f"#{loc[1] + 1}"
        field = ".".join(str(p) for p in loc[2:]) or "(the rule)"
        return f"watchdog config {source}{at}: rule {name!r}, field {field}: {message}"
    field = ".".join(str(p) for p in loc) or "(top)"
    return f"watchdog config {source}{at}: field {field}: {message}"
