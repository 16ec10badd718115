"""The purchasing policy from its file: the shipped one loads with the approvals' people and
calendar, and a wrong file is refused naming the file and the field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from continuum.approvals.config import load_approval_policy
from continuum.purchasing.config import PurchasingConfigError, load_purchasing_policy
from continuum.settings import Settings
from domain.purchasing.policy import tolerance_for


def test_the_shipped_file_loads_with_the_approvals_people_and_calendar() -> None:
    approvals = load_approval_policy()
    policy = load_purchasing_policy(approvals=approvals)
    assert policy.people == approvals.people and policy.calendar == approvals.calendar
    # Every role a purchase can wait on has someone to decide it.
    for role in policy.roles:
        assert any(role in person.roles for person in policy.people.values()), role
    assert policy.people["bruno"].roles == ["buyer"]
    tolerances = policy.tolerances
    assert tolerance_for(tolerances, "S-1", "").quantity_pct == Decimal(2)
    assert tolerance_for(tolerances, "S-1", "raw_materials").amount_cap == Decimal(200)
    assert tolerance_for(tolerances, "SUP-101", "raw_materials").price_pct == 0
    assert tolerance_for(tolerances, "SUP-100", "raw_materials").price_abs == Decimal("0.05")
    assert policy.escalations()["buyer"] == "purchasing_manager"
    # Without the approvals policy: no people (a purchase takes them from there).
    assert load_purchasing_policy().people == {}


def test_settings_name_the_file_and_hand_over_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "purchasing.toml"
    own.write_text('approval_threshold = "250"\n[people.zoe]\nname = "Zoe"\nroles = ["buyer"]\n')
    monkeypatch.setenv("PURCHASING_CONFIG_FILE", str(own))
    policy = Settings().purchasing_policy()
    assert policy.approval_threshold == Decimal(250)
    assert list(policy.people) == ["zoe"]  # the file's own directory wins over the approvals'
    assert policy.calendar.time_zone == "Europe/Berlin"


def test_a_wrong_file_is_refused_naming_the_file_and_the_field(tmp_path: Path) -> None:
    broken = tmp_path / "purchasing.toml"
    broken.write_text(
        'buyer_variance_limit = "lots"\n'
        '[tolerances.default]\nquantity_pct = "-1"\n'
        '[tolerances.by_category.raw]\nprice_pct = "x"\n'
    )
    with pytest.raises(PurchasingConfigError) as wrong:
        load_purchasing_policy(broken)
    message = str(wrong.value)
    assert message.startswith(f"purchasing config {broken}: ")
    assert "buyer_variance_limit: Input should be a valid decimal" in message
    assert "tolerances.default.quantity_pct: Input should be greater than or equal to 0" in message
    assert "tolerances.by_category.raw.price_pct: Input should be a valid decimal" in message

    broken.write_text('manager_role = "boss"\n')
    with pytest.raises(PurchasingConfigError, match="manager_role: role 'boss' has no entry"):
        load_purchasing_policy(broken)
    broken.write_text("approval_threshold = ")
    with pytest.raises(PurchasingConfigError, match="is not valid"):
        load_purchasing_policy(broken)
    with pytest.raises(PurchasingConfigError, match="cannot read purchasing config"):
        load_purchasing_policy(tmp_path / "missing.toml")
