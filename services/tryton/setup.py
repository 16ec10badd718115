"""Create and seed a Tryton 8.2 database for Continuum under one directory.

The directory holds everything: `trytond.conf`, the SQLite file `continuum.sqlite`, the admin
password (`admin-password`, mode 0600) and the API user's credentials (`api-credentials.json`,
mode 0600: login, password and REST application key). Every step first looks for what an earlier
run made, so `setup` can run again on the same directory and only adds what is missing.

Seed (the reference ERP's demo): company "Continuum Demo GmbH" in EUR, two calendar fiscal
years with monthly periods and invoice sequences, Tryton's minimal chart of accounts, a "Direct"
payment term, a "Manual" payment journal, and the reference ERP's demo data: SKU-001..SKU-010
with 10,000 on hand in the default warehouse and SKU-011 with none, customers C-100..C-105 with
e-mails and credit limits (C-102 at 500.00; C-103 blocked, i.e. archived in Tryton, which the
connector reports as blocked), plus a few countries for shipping addresses.

Purchasing (procure-to-pay): the products can be bought; purchases invoice on fulfillment
(Tryton drafts the supplier invoice for what was received); purchase taxes at 19 % and 7 % on
the accrued-taxes account; a "Supplier transfers" payment journal (manual) cleared through the
cash account and journal, so a supplier payment that succeeds reconciles its invoice; suppliers
SUP-100..SUP-104 (`services.demo_data.DEMO_SUPPLIERS`) in the party category "Supplier",
SUP-103 also in "Blocked supplier" and SUP-104 in "New supplier" (Tryton has neither flag).

The API user `continuum-api` is an ordinary user (not admin), member of:
  - Sales (sale.group_sale): create, quote, confirm and cancel sales; run the sale's
    shipment-exception wizard during compensation
  - Party Administration (party.group_party_admin): add the order's delivery address to the
    customer (the only party write it makes)
  - Stock (stock.group_stock): read quantities, assign/pick/pack/do and cancel customer
    shipments, create customer return shipments
  - Accounting (account.group_account): post and credit customer invoices
  - Payment and Payment Approval (account_payment.group_payment, group_payment_approval):
    record and process receivable payments and their payable refunds
  - Credit Limit (account_credit_limit.group_credit_limit): for its members a sale over the
    customer's credit limit is a warning (UserWarning) instead of a hard error, so an order that
    Continuum's approval gate let through can be confirmed (see `connectors.tryton`)
  - Purchase (purchase.group_purchase): create, quote, confirm and cancel purchases, note the
    supplier's answers on them, run their exception wizards during compensation (supplier
    shipments and returns need Stock, supplier invoices Accounting, supplier payments Payment)
It is not an administrator and not in Sales/Stock/Accounting Administration.
Its REST application key (`res.user.application`, application "rest") is validated at creation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from services import demo_data
from services.demo_data import DEMO_CUSTOMERS, DEMO_PRODUCTS, DEMO_SUPPLIERS

DATABASE_NAME = "continuum"
# Written after seeding: which version of the seeding this database has had (seed_stamp()).
SEED_STAMP = "seeded"
ADMIN_LOGIN = "admin"
API_LOGIN = "continuum-api"
COMPANY_NAME = "Continuum Demo GmbH"
PAYMENT_JOURNAL = "Manual"
# Supplier payments: manual, cleared through the cash account so that a payment that succeeds
# reconciles the supplier invoice (which Tryton then marks paid).
SUPPLIER_PAYMENT_JOURNAL = "Supplier transfers"
# Tryton has no party type: the suppliers are in the first category (which keeps them out of the
# customer feed); one in the second is reported as blocked, in the third as new (not yet on the
# approved-supplier list). Names shared with `connectors.tryton`.
SUPPLIER_CATEGORY = "Supplier"
BLOCKED_SUPPLIER_CATEGORY = "Blocked supplier"
NEW_SUPPLIER_CATEGORY = "New supplier"
# Purchase taxes by rate: a requisition line's tax_rate picks one (see connectors.tryton).
PURCHASE_TAXES = ((Decimal("0.19"), "VAT 19% (purchases)"), (Decimal("0.07"), "VAT 7% (purchases)"))

# Activated with their dependencies (party, product, company, currency, account, ...).
MODULES = (
    "sale",
    "stock",
    "account_invoice",
    "account_invoice_stock",
    "account_credit_limit",
    "sale_credit_limit",
    "account_payment",
    "sale_payment",
    "purchase",
    "account_payment_clearing",
)

# The same demo data as the reference ERP; a blocked customer is archived in Tryton.
PRODUCTS = tuple(DEMO_PRODUCTS)
CUSTOMERS = tuple(DEMO_CUSTOMERS)
SUPPLIERS = tuple(DEMO_SUPPLIERS)

# The API user's groups (module, XML id); why each is needed is in the module docstring.
API_GROUPS = (
    ("sale", "group_sale"),
    ("party", "group_party_admin"),
    ("stock", "group_stock"),
    ("account", "group_account"),
    ("account_payment", "group_payment"),
    ("account_payment", "group_payment_approval"),
    ("account_credit_limit", "group_credit_limit"),
    ("purchase", "group_purchase"),
)

COUNTRIES = (
    ("DE", "Germany"),
    ("AT", "Austria"),
    ("CH", "Switzerland"),
    ("FR", "France"),
    ("NL", "Netherlands"),
    ("BE", "Belgium"),
    ("IT", "Italy"),
    ("ES", "Spain"),
    ("GB", "United Kingdom"),
    ("US", "United States"),
)


class ApiCredentials(BaseModel):
    """What a client needs to reach the database as the API user; stored with mode 0600."""

    database: str
    login: str
    password: str
    application_key: str


@dataclass(frozen=True)
class TrytonLayout:
    """Where everything of one Tryton instance lives under `root`."""

    root: Path
    database: str = DATABASE_NAME

    @property
    def config(self) -> Path:
        return self.root / "trytond.conf"

    @property
    def db_file(self) -> Path:
        return self.root / f"{self.database}.sqlite"

    @property
    def admin_password_file(self) -> Path:
        return self.root / "admin-password"

    @property
    def credentials_file(self) -> Path:
        return self.root / "api-credentials.json"

    @property
    def seed_stamp_file(self) -> Path:
        return self.root / SEED_STAMP

    def credentials(self) -> ApiCredentials:
        return ApiCredentials.model_validate_json(self.credentials_file.read_text())


Log = Callable[[str], None]


def _print(message: str) -> None:
    print(f"[tryton setup] {message}", flush=True)


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def write_config(layout: TrytonLayout) -> None:
    """The trytond configuration: SQLite (and its attachments) under `root`, no database listing."""
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.config.write_text(
        "[database]\n"
        "uri = sqlite://\n"
        f"path = {layout.root}\n"
        "list = False\n"
        "retry = 5\n"
        "\n"
        "[session]\n"
        # Keep a session for the connector's lifetime; it logs in again on 401 anyway.
        "max_age = 86400\n"
        "timeout = 86400\n"
    )


def _database_initialised(layout: TrytonLayout) -> bool:
    if not layout.db_file.exists() or layout.db_file.stat().st_size == 0:
        return False
    import sqlite3

    with sqlite3.connect(layout.db_file) as conn:
        try:
            rows = conn.execute(
                "SELECT name FROM ir_module WHERE state = 'activated' AND name IN ({})".format(
                    ",".join("?" for _ in MODULES)
                ),
                MODULES,
            ).fetchall()
        except sqlite3.DatabaseError:
            return False
    return len(rows) == len(MODULES)


def create_database(layout: TrytonLayout, log: Log = _print) -> bool:
    """`trytond-admin` on a fresh SQLite file with the modules activated; False if it existed."""
    if _database_initialised(layout):
        log(f"database {layout.db_file} exists with all modules activated; skipped")
        return False
    if not layout.admin_password_file.exists():
        _write_secret(layout.admin_password_file, secrets.token_urlsafe(24) + "\n")
    layout.db_file.touch()
    # `trytond-admin`, run with this interpreter whatever its scripts directory.
    argv = [
        sys.executable,
        "-m",
        "trytond.cli.admin",
        "-c",
        str(layout.config),
        "-d",
        layout.database,
        "-u",
        *MODULES,
        "--activate-dependencies",
        "--email",
        "admin@example.com",
        # Without it, a run on an existing database (a template that gains modules) makes
        # admin a non-administrator (trytond-admin only defaults it to true on creation), and
        # the seeding that follows is refused access.
        "--administrator",
    ]
    log(f"initialising {layout.db_file} with {', '.join(MODULES)} (about 30 s)")
    env = {**os.environ, "TRYTONPASSFILE": str(layout.admin_password_file)}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"trytond-admin failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return True


# ---------------------------------------------------------------------------------------------
# Seeding with proteus (runs trytond in this process)


def _connect(layout: TrytonLayout) -> Any:
    from proteus import config as pconfig  # type: ignore[import-untyped]

    os.environ["TRYTOND_CONFIG"] = str(layout.config)
    return pconfig.set_trytond(database=layout.database, config_file=str(layout.config))


def _model(name: str) -> Any:
    from proteus import Model

    return Model.get(name)


def _xml_id(module: str, fs_id: str) -> int:
    from proteus.config import get_config  # type: ignore[import-untyped]

    model_data = _model("ir.model.data")
    record_id: int = model_data.get_id(module, fs_id, get_config().context)
    return record_id


def _ensure_company(log: Log) -> Any:
    from proteus import Wizard

    company_model = _model("company.company")
    found = company_model.find([("party.name", "=", COMPANY_NAME)])
    currency = _ensure_currency()
    if found:
        company = found[0]
    else:
        log("company")
        party = _model("party.party")(name=COMPANY_NAME)
        party.save()
        wizard = Wizard("company.company.config")
        wizard.execute("company")
        wizard.form.party = party
        wizard.form.currency = currency
        wizard.execute("add")
        (company,) = company_model.find([("party.name", "=", COMPANY_NAME)])
    _refresh_context()
    return company


def _refresh_context() -> None:
    from proteus.config import get_config

    config = get_config()
    config._context = _model("res.user").get_preferences(True, {})


def _ensure_currency() -> Any:
    currency_model = _model("currency.currency")
    found = currency_model.find([("code", "=", "EUR")])
    if found:
        return found[0]
    currency = currency_model(name="Euro", symbol="€", code="EUR", rounding=Decimal("0.01"))
    currency.save()
    _model("currency.currency.rate")(
        date=dt.date(2000, 1, 1), rate=Decimal("1"), currency=currency
    ).save()
    return currency


def _ensure_chart(company: Any, log: Log) -> dict[str, Any]:
    from proteus import Wizard

    account_model = _model("account.account")

    def accounts() -> dict[str, Any]:
        found: dict[str, Any] = {}
        for kind in ("receivable", "payable", "revenue", "expense"):
            match = account_model.find(
                [(f"type.{kind}", "=", True), ("company", "=", company.id), ("closed", "!=", True)],
                limit=1,
            )
            if match:
                found[kind] = match[0]
        return found

    existing = accounts()
    if len(existing) == 4:
        return existing
    log("minimal chart of accounts")
    template = _model("account.account.template")(_xml_id("account", "account_template_root_en"))
    wizard = Wizard("account.create_chart")
    wizard.execute("account")
    wizard.form.account_template = template
    wizard.form.company = company
    wizard.execute("create_account")
    made = accounts()
    wizard.form.account_receivable = made["receivable"]
    wizard.form.account_payable = made["payable"]
    wizard.form.category_account_revenue = made["revenue"]
    wizard.form.category_account_expense = made["expense"]
    wizard.execute("create_properties")
    return made


def _ensure_fiscal_years(company: Any, log: Log) -> None:
    fiscal_year_model = _model("account.fiscalyear")
    strict = _model("ir.sequence.strict")
    sequence_type = _model("ir.sequence.type")
    (move_type,) = sequence_type.find([("name", "=", "Account Move")], limit=1)
    (invoice_type,) = sequence_type.find([("name", "=", "Invoice")], limit=1)
    this_year = dt.date.today().year
    for year in (this_year, this_year + 1):
        name = str(year)
        if fiscal_year_model.find([("name", "=", name), ("company", "=", company.id)]):
            continue
        log(f"fiscal year {name}")
        move_sequence = strict(name=name, sequence_type=move_type, company=company)
        move_sequence.save()
        invoice_sequence = strict(
            name=f"Invoice {name}", sequence_type=invoice_type, company=company
        )
        invoice_sequence.save()
        fiscal_year = fiscal_year_model(
            name=name,
            start_date=dt.date(year, 1, 1),
            end_date=dt.date(year, 12, 31),
            company=company,
            move_sequence=move_sequence,
        )
        (sequences,) = fiscal_year.invoice_sequences
        sequences.out_invoice_sequence = invoice_sequence
        sequences.in_invoice_sequence = invoice_sequence
        sequences.out_credit_note_sequence = invoice_sequence
        sequences.in_credit_note_sequence = invoice_sequence
        fiscal_year.save()
        fiscal_year.click("create_period")


def _ensure_configuration(company: Any, log: Log) -> Any:
    term_model = _model("account.invoice.payment_term")
    found = term_model.find([("name", "=", "Direct")])
    if found:
        term = found[0]
    else:
        log("payment term, payment journal, sale configuration")
        term = term_model(name="Direct")
        term.lines.new(type="remainder")
        term.save()
    account_config = _model("account.configuration")(1)
    account_config.default_customer_payment_term = term
    account_config.default_credit_limit_amount = Decimal("5000")
    account_config.save()

    sale_config = _model("sale.configuration")(1)
    # Ship when the sale is processed; invoice what was shipped, once it is.
    sale_config.sale_shipment_method = "order"
    sale_config.sale_invoice_method = "fulfillment"
    sale_config.save()

    journal_model = _model("account.payment.journal")
    if not journal_model.find([("name", "=", PAYMENT_JOURNAL)]):
        journal_model(
            name=PAYMENT_JOURNAL,
            process_method="manual",
            currency=company.currency,
            company=company,
        ).save()
    return term


def _ensure_countries() -> None:
    country_model = _model("country.country")
    have = {c.code for c in country_model.find([])}
    for code, name in COUNTRIES:
        if code not in have:
            country_model(name=name, code=code).save()


def _ensure_products(company: Any, accounts: dict[str, Any], log: Log) -> None:
    template_model = _model("product.template")
    product_model = _model("product.product")
    category_model = _model("product.category")
    (unit,) = _model("product.uom").find([("name", "=", "Unit")])
    categories = category_model.find([("name", "=", "Goods")])
    if categories:
        category = categories[0]
    else:
        category = category_model(name="Goods", accounting=True)
        category.account_revenue = accounts["revenue"]
        category.account_expense = accounts["expense"]
        category.save()

    existing = {p.code for p in product_model.find([("code", "like", "SKU-%")])}
    missing = [p for p in PRODUCTS if p[0] not in existing]
    if not missing:
        return
    log(f"{len(missing)} products and their stock")
    made: list[tuple[Any, int]] = []
    for code, name, price, quantity in missing:
        template = template_model(
            name=name,
            type="goods",
            default_uom=unit,
            salable=True,
            purchasable=True,
            purchase_uom=unit,
            list_price=Decimal(price),
            account_category=category,
        )
        # The product's code is the template's code (prefix) plus its own suffix, empty here.
        template.code = code
        (product,) = template.products
        product.cost_price = (Decimal(price) / 2).quantize(Decimal("0.0001"))
        template.save()
        made.append((template.products[0], quantity))

    (warehouse,) = _model("stock.location").find([("type", "=", "warehouse")], limit=1)
    inventory = _model("stock.inventory")(location=warehouse.storage_location, company=company)
    for product, quantity in made:
        if quantity:
            inventory.lines.new(product=product, quantity=quantity)
    if inventory.lines:
        inventory.save()
        inventory.click("confirm")


def _ensure_purchasable(log: Log) -> None:
    """The demo products can be bought too (a template built before purchasing is topped up)."""
    template_model = _model("product.template")
    (unit,) = _model("product.uom").find([("name", "=", "Unit")])
    stale = template_model.find([("code", "like", "SKU-%"), ("purchasable", "=", False)])
    if stale:
        log(f"{len(stale)} products made purchasable")
    for template in stale:
        template.purchasable = True
        template.purchase_uom = unit
        template.save()


def _account(company: Any, code: str) -> Any:
    (account,) = _model("account.account").find(
        [("code", "=", code), ("company", "=", company.id)], limit=1
    )
    return account


def _ensure_purchasing(company: Any, term: Any, log: Log) -> None:
    """Purchase configuration, purchase taxes, the supplier payment journal and its clearing,
    the supplier categories and the demo suppliers."""
    purchase_config = _model("purchase.configuration")(1)
    if purchase_config.purchase_invoice_method != "fulfillment":
        log("purchase configuration: invoice what was received")
        # Tryton 8 calls it "fulfillment" (7.x: "shipment"): the supplier invoice is drafted
        # for the received moves only.
        purchase_config.purchase_invoice_method = "fulfillment"
        purchase_config.save()

    tax_model = _model("account.tax")
    # Input VAT on the chart's accrued-taxes account (no party, not reconciled).
    tax_account = _account(company, "2.2.3")
    for rate, name in PURCHASE_TAXES:
        if not tax_model.find([("name", "=", name), ("company", "=", company.id)]):
            log(f"tax {name}")
            tax_model(
                name=name,
                description=name,
                type="percentage",
                rate=rate,
                invoice_account=tax_account,
                credit_note_account=tax_account,
                company=company,
            ).save()

    journal_model = _model("account.payment.journal")
    if not journal_model.find([("name", "=", SUPPLIER_PAYMENT_JOURNAL)]):
        log(f"payment journal {SUPPLIER_PAYMENT_JOURNAL}")
        (cash_journal,) = _model("account.journal").find([("code", "=", "CASH")], limit=1)
        journal_model(
            name=SUPPLIER_PAYMENT_JOURNAL,
            process_method="manual",
            currency=company.currency,
            company=company,
            clearing_account=_account(company, "1.1.1"),
            clearing_journal=cash_journal,
        ).save()

    category_model = _model("party.category")
    categories = {}
    for name in (SUPPLIER_CATEGORY, BLOCKED_SUPPLIER_CATEGORY, NEW_SUPPLIER_CATEGORY):
        found = category_model.find([("name", "=", name)])
        if found:
            categories[name] = found[0]
        else:
            category = category_model(name=name)
            category.save()
            categories[name] = category

    party_model = _model("party.party")
    have = {p.code: p for p in party_model.find([("code", "like", "SUP-%")])}
    (germany,) = _model("country.country").find([("code", "=", "DE")])
    for code, name, email, _currency, status, new in SUPPLIERS:
        blocked = status == "blocked"
        party = have.get(code)
        if party is None:
            log(f"supplier {code}")
            party = party_model(code=code, name=name)
            party.contact_mechanisms.new(type="email", value=email)
            (address,) = party.addresses
            address.street = "Lieferantenweg 1"
            address.postal_code = "20095"
            address.city = "Hamburg"
            address.country = germany
            party.supplier_payment_term = term
        wanted = [SUPPLIER_CATEGORY]
        wanted += [BLOCKED_SUPPLIER_CATEGORY] if blocked else []
        wanted += [NEW_SUPPLIER_CATEGORY] if new else []
        held = {c.name for c in party.categories}
        missing = [name for name in wanted if name not in held]
        for category in missing:
            party.categories.append(category_model(categories[category].id))
        if party.id is None or party.id < 0 or missing:
            party.save()


def _ensure_customers(company: Any, term: Any, log: Log) -> None:
    party_model = _model("party.party")
    have = {
        p.code
        for p in party_model.find(
            [("code", "like", "C-1%"), ("active", "in", [True, False])],
        )
    }
    (germany,) = _model("country.country").find([("code", "=", "DE")])
    for code, name, email, company_name, limit, blocked in CUSTOMERS:
        if code in have:
            continue
        log(f"customer {code}")
        party = party_model(code=code, name=name)
        party.contact_mechanisms.new(type="email", value=email)
        (address,) = party.addresses
        address.party_name = company_name
        address.street = f"{name.split()[-1]}straße 1"
        address.postal_code = "10115"
        address.city = "Berlin"
        address.country = germany
        party.customer_payment_term = term
        party.credit_limit_amount = Decimal(limit)
        party.save()
        if blocked:
            party.active = False
            party.save()


def _ensure_api_user(layout: TrytonLayout, company: Any, log: Log) -> None:
    """The API user with its groups; a new password and key only when the stored ones fail."""
    user_model = _model("res.user")
    application_model = _model("res.user.application")
    group_model = _model("res.group")
    found = user_model.find([("login", "=", API_LOGIN)])
    user = found[0] if found else user_model(login=API_LOGIN, name="Continuum integration")
    if not found:
        log(f"API user {API_LOGIN}")
        user.password = secrets.token_urlsafe(24)  # replaced below, with the key
    user.email = "continuum-api@example.com"
    if company not in user.companies:
        user.companies.append(company)
    user.company = company
    for module, fs_id in API_GROUPS:
        group = group_model(_xml_id(module, fs_id))
        if group not in user.groups:
            user.groups.append(group)
    user.save()

    if layout.credentials_file.exists():
        credentials = layout.credentials()
        if application_model.find(
            [
                ("user", "=", user.id),
                ("key", "=", credentials.application_key),
                ("state", "=", "validated"),
            ]
        ):
            return
    log(f"new password and REST application key for {API_LOGIN}")
    for old in application_model.find([("user", "=", user.id), ("state", "!=", "cancelled")]):
        old.click("cancel")
    password = secrets.token_urlsafe(24)
    user.password = password
    user.save()
    application = application_model(user=user, application="rest")
    application.save()
    if application.state != "validated":
        application.click("validate_")
    _write_secret(
        layout.credentials_file,
        ApiCredentials(
            database=layout.database,
            login=API_LOGIN,
            password=password,
            application_key=application.key,
        ).model_dump_json(indent=2),
    )


def seed(layout: TrytonLayout, log: Log = _print) -> None:
    _connect(layout)
    company = _ensure_company(log)
    accounts = _ensure_chart(company, log)
    _ensure_fiscal_years(company, log)
    term = _ensure_configuration(company, log)
    _ensure_countries()
    _ensure_products(company, accounts, log)
    _ensure_purchasable(log)
    _ensure_customers(company, term, log)
    _ensure_purchasing(company, term, log)
    _ensure_api_user(layout, company, log)


def seed_stamp() -> str:
    """What the seeding is made of: this module, the demo data and the year (its fiscal years).
    A database stamped with it was seeded by this very code: seeding again would change nothing."""
    digest = hashlib.sha256()
    for source in (Path(__file__), Path(demo_data.__file__)):
        digest.update(source.read_bytes())
    digest.update(str(dt.date.today().year).encode())
    return digest.hexdigest()[:16]


def _seeded(layout: TrytonLayout) -> bool:
    stamp = layout.seed_stamp_file
    return (
        layout.credentials_file.exists()
        and stamp.exists()
        and stamp.read_text().strip() == seed_stamp()
    )


def setup(root: Path, log: Log = _print) -> TrytonLayout:
    """Config, database and seed under `root`; each step skipped when already done (a copy of
    a set-up home, e.g. a test template, skips the ~30 s of seeding checks too)."""
    started = time.monotonic()
    layout = TrytonLayout(root.resolve())
    write_config(layout)
    created = create_database(layout, log)
    if not created and _seeded(layout):
        log(f"{layout.db_file} was seeded by this version; seeding skipped")
    else:
        # Seeding runs in a child so that this process never holds trytond's global state.
        argv = [sys.executable, "-m", "services.tryton", "seed", "--dir", str(layout.root)]
        done = subprocess.run(argv, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"seeding {layout.db_file} failed with exit code {done.returncode}")
        layout.seed_stamp_file.write_text(seed_stamp() + "\n")
    log(
        f"ready in {time.monotonic() - started:.1f}s: database {layout.db_file}, "
        f"API credentials in {layout.credentials_file} (mode 0600)"
    )
    return layout


def summary(layout: TrytonLayout) -> Sequence[str]:
    return [
        f"config:      {layout.config}",
        f"database:    {layout.db_file} (name {layout.database!r})",
        f"credentials: {layout.credentials_file} (login, password, REST application key)",
    ]
