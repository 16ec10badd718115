"""The processes' contracts hold: activities are registered under their methods' names (so a
typed reference in a workflow names the same activity a history recorded), and each workflow
declares exactly the messages its contract in `domain` names for its clients."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import activity, workflow

from activities.reports import ReportActivities, ReportConfig
from domain import reports
from domain.approvals import contract as approvals
from domain.orders import contract as orders
from domain.purchasing import contract as purchasing
from domain.sync import contract as sync
from tests.fakes import InMemoryCrm, InMemoryErp
from workers.registry import WORKFLOWS, activities
from workflows.approval import Approval
from workflows.orders.order_to_cash import OrderToCash
from workflows.purchasing.procure_to_pay import ProcureToPay
from workflows.sync.erp_crm_sync import ErpCrmSync


def _messages(cls: type) -> set[str]:
    defn = workflow._Definition.must_from_class(cls)
    return {name for name in (*defn.queries, *defn.signals, *defn.updates) if name is not None}


def _names(holder: type) -> set[str]:
    return {v for k, v in vars(holder).items() if not k.startswith("_") and isinstance(v, str)}


def test_every_activity_is_registered_under_its_method_name(tmp_path: Path) -> None:
    config = ReportConfig(reports_dir=tmp_path, store_url=f"sqlite:///{tmp_path / 'continuum.db'}")
    found = [
        *activities(InMemoryErp(), InMemoryCrm()),
        *ReportActivities(InMemoryErp(), InMemoryCrm(), None, config).all(),
    ]
    names = {activity._Definition.must_from_callable(fn).name: fn.__name__ for fn in found}
    assert names == {name: name for name in names}
    assert len(names) == len(found) > 20


@pytest.mark.parametrize(
    ("cls", "declared"),
    [
        (OrderToCash, orders.Message),
        (ProcureToPay, purchasing.Message),
        (Approval, approvals.Message),
        (ErpCrmSync, sync.Message),
    ],
)
def test_each_workflow_handles_exactly_its_contracts_messages(cls: type, declared: type) -> None:
    assert _messages(cls) == _names(declared)


def test_workflow_types_are_the_contracts_names() -> None:
    registered = {workflow._Definition.must_from_class(cls).name for cls in WORKFLOWS}
    expected = {
        orders.WORKFLOW_NAME,
        purchasing.WORKFLOW_NAME,
        approvals.WORKFLOW_NAME,
        sync.WORKFLOW_NAME,
        sync.RECONCILE_WORKFLOW,
        sync.REDRIVE_WORKFLOW,
        sync.SCHEDULED_WORKFLOW,
        reports.WORKFLOW_NAME,
    }
    assert registered == expected


def test_the_ops_worker_registers_the_watchdog_the_alerts_and_the_repairs() -> None:
    from activities.watchdog.watchdog import WatchdogActivities, WatchdogContext
    from domain.alerts import contract as alerts
    from domain.business_calendar import BusinessCalendar
    from domain.incidents import contract as incidents
    from domain.watchdog import contract as watchdog
    from domain.watchdog.config import WatchdogConfig
    from workers.ops import OPS_WORKFLOWS

    registered = {workflow._Definition.must_from_class(cls).name for cls in OPS_WORKFLOWS}
    assert registered == {watchdog.WORKFLOW_NAME, alerts.WORKFLOW_NAME, incidents.WORKFLOW_NAME}
    assert watchdog.TASK_QUEUE == alerts.TASK_QUEUE == incidents.TASK_QUEUE
    context = WatchdogContext(config=WatchdogConfig(), calendar=BusinessCalendar())
    steps = WatchdogActivities(None, context).all()
    names = {activity._Definition.must_from_callable(fn).name: fn.__name__ for fn in steps}
    assert names == {name: name for name in names} and len(names) == 3


def test_the_purchase_takes_what_other_systems_send_as_its_contract_says() -> None:
    """The gateway's routes are checked against SIGNALS and UPDATES: each is what it says."""
    defn = workflow._Definition.must_from_class(ProcureToPay)
    assert set(defn.signals) == purchasing.SIGNALS
    assert set(defn.updates) == purchasing.UPDATES
