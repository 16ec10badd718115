"""The sync's pure rules: a page split into upserts, rejections and skips; the checksum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.erp import CustomerChange
from domain.sync.mapping import DEFAULT_MAPPING
from domain.sync.models import FeedTotals, PageResult, canonical, checksum, split_page

WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def customer(n: int, **changes: Any) -> dict[str, Any]:
    base = CustomerChange(
        customer_id=f"C-{n}",
        name=f"Ada {n}",
        email=f"c{n}@example.com",
        company=f"Company {n}",
        credit_limit=Decimal("100"),
        updated_at=WHEN + timedelta(seconds=n),
    ).model_dump(mode="json")
    return {**base, **changes}


def test_a_page_splits_per_target_keeping_feed_order_and_positions() -> None:
    records = [customer(0), customer(1, email="nope"), customer(2, company=None), customer(3)]
    split = split_page(DEFAULT_MAPPING.for_source("customers"), records)
    assert [u.id for u in split.upserts["contacts"]] == ["C-0", "C-2", "C-3"]
    assert split.positions["contacts"] == [0, 2, 3]
    assert [u.id for u in split.upserts["companies"]] == ["C-0", "C-1", "C-3"]
    assert [(r.record_id, r.target, r.field) for r in split.rejected] == [
        ("C-1", "contacts", "email")
    ]
    assert split.skipped == 1  # C-2 has no company
    assert split.id_properties == {"contacts": "customer_id", "companies": "customer_id"}


def test_totals_add_up_pages() -> None:
    totals = FeedTotals()
    for n in (3, 4):
        totals.add(
            PageResult(
                feed="orders",
                page=n,
                records=n,
                upserted={"deals": n - 1},
                quarantined=1,
                done=False,
            )
        )
    assert (totals.pages, totals.records, totals.upserted, totals.quarantined) == (
        2,
        7,
        {"deals": 5},
        2,
    )


def test_checksum_sees_what_the_crm_keeps_as_equal() -> None:
    ours = {"amount": "1234.50", "erp_updated_at": "2026-11-20T09:30:00.123456Z", "name": " A "}
    theirs = {"amount": "1234.5", "erp_updated_at": "2026-11-20T09:30:00.123Z", "name": "A"}
    assert checksum(ours, ours) == checksum(theirs, ours)
    assert checksum({**ours, "amount": "1234.51"}, ours) != checksum(theirs, ours)
    assert checksum({}, ["x"]) == checksum({"x": None}, ["x"]) == checksum({"x": ""}, ["x"])


@given(st.dictionaries(st.sampled_from("abcdef"), st.text(max_size=12) | st.none()))
def test_checksum_depends_only_on_the_named_values(props: dict[str, str | None]) -> None:
    names = sorted(props)
    assert checksum(props, names) == checksum({**props, "zz": "ignored"}, names)
    assert checksum(props, names) == checksum(dict(reversed(list(props.items()))), names)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=4))
def test_canonical_numbers_ignore_trailing_zeros(number: Decimal) -> None:
    assert canonical(format(number, "f")) == canonical(format(number.normalize(), "f"))
    assert Decimal(canonical(format(number, "f"))) == number


@given(st.datetimes(timezones=st.just(UTC)))
def test_canonical_moments_are_milliseconds_in_utc(moment: datetime) -> None:
    text = moment.isoformat().replace("+00:00", "Z")
    truncated = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert canonical(text) == canonical(truncated.isoformat())
    assert canonical(text).endswith("Z") and len(canonical(text)) == 24
