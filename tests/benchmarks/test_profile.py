"""The profile's reading of py-spy's collapsed stacks: frames to modules, inclusive shares of
named parts, each sample to the innermost part that claims it, waiting threads left out."""

from __future__ import annotations

from benchmarks.profile import ROOT, Probe, Profile, module_of

SITE = "/work/.venv/lib/python3.11/site-packages"
STD = "/root/.pyenv/versions/3.11.7/lib/python3.11"
RAW = [
    # root first; "func (file:line)" frames; then the sample count
    f"run (<frozen runpy>:1);execute_activity ({SITE}/temporalio/worker/_activity.py:10);"
    f"upsert_deal ({ROOT}/activities/orders/crm.py:40);request ({SITE}/httpx/_client.py:5);"
    f"helper ({STD}/contextlib.py:3) 6",
    f"run (<frozen runpy>:1);execute_activity ({SITE}/temporalio/worker/_activity.py:10);"
    f"_start_as_current_span ({SITE}/temporalio/contrib/opentelemetry/_interceptor.py:9) 3",
    f"run (<frozen runpy>:1);EpollSelector.select ({STD}/selectors.py:468) 90",
    "run (<frozen runpy>:1);_find_and_load (<frozen importlib._bootstrap>:1) 1",
    "garbage line without a count",
]


def test_frames_become_modules_whatever_their_root() -> None:
    assert module_of(f"{SITE}/httpx/_client.py") == "httpx/_client"
    assert module_of(f"{ROOT}/activities/orders/crm.py") == "activities/orders/crm"
    assert module_of(f"{STD}/asyncio/events.py") == "asyncio/events"
    assert module_of(f"{SITE}/opentelemetry/trace/__init__.py") == "opentelemetry/trace"


def test_waiting_samples_go_and_shares_are_of_the_working_ones() -> None:
    profile = Profile.parse(RAW)
    assert profile.samples == 100
    busy = profile.busy()
    assert busy.samples == 10
    activity = Probe("activity", ("temporalio/worker/_activity",))
    crm = Probe("crm step", ("activities/orders/crm",), ("upsert_deal",))
    assert busy.inclusive(activity) == 0.9 and busy.inclusive(crm) == 0.6


def test_each_sample_belongs_to_the_innermost_part_that_claims_it() -> None:
    owners = (
        Probe("imports", ("<frozen importlib",)),
        Probe("otel", ("temporalio/contrib/opentelemetry",)),
        Probe("http", ("httpx",)),
        Probe("ours", ("activities/",)),
        Probe("sdk", ("temporalio",)),
    )
    counted = Profile.parse(RAW).busy().owners(owners)
    # contextlib under httpx counts as httpx's; the interceptor under the SDK as its own.
    assert counted == {"http": 6, "otel": 3, "imports": 1}
