"""`ErpPort` on a real ERP: Tryton 8.2 (set up by `services.tryton`), over REST and JSON-RPC.

REST (`/<db>/rest/model/...`, `Authorization: bearer <application key>`, company in
`X-Tryton-Context`) does the reads, creates, writes and workflow buttons. JSON-RPC
(`POST /<db>/rpc/`, a session from `common.db.login`) runs the three wizards REST cannot:
processing a payment, crediting an invoice and ignoring a cancelled sale's moves.

Tryton has no idempotency header, so every write is keyed by the order id, stored as the sale's
`reference` (and the shipment's, the return's and the payment's): a step first looks for what an
earlier attempt did and carries it on from where it stopped, and only creates what is missing.

How each port method maps onto Tryton (what is real, what is approximated):
- get_credit: the party (by code) with `account_credit_limit`/`sale_credit_limit`: limit is the
  party's credit limit (else the company default), exposure is Tryton's credit amount
  (receivable balance + confirmed sales not yet invoiced - succeeded sale payments). Tryton has
  no "blocked" flag: an archived party is reported as blocked.
- check_stock: per product code, min(on hand, forecast) in the warehouse: the forecast already
  subtracts the planned moves of confirmed sales, so this is what is still free to promise.
  An unknown code is NotFoundError("UnknownProduct"), as on the reference ERP (see
  `_known_products` for why that message is the connector's, not Tryton's).
- reserve_stock / release_stock: Tryton has no reservation object. The stock is held by the
  sale itself (its planned moves lower the forecast once it is confirmed) and, physically, by
  the shipment's assignment. reserve_stock checks availability (InsufficientStock otherwise) and
  returns a reservation named after the order; release_stock un-assigns the order's assigned
  shipment (back to waiting), Tryton's own way to free assigned stock, and refuses for a picked
  or packed one (Tryton only frees those by cancelling the shipment); in the saga the shipment
  and sale are already cancelled by then, so it has nothing left to do.
  Between reserve_stock and create_sales_order nothing holds the stock yet.
- create_sales_order: a sale with the order id as `reference`, quoted then confirmed; Tryton
  processes it at once (customer shipment waiting; invoice on fulfilment). On a Tryton refusal
  the draft is deleted, so a refused order leaves no sale behind.
- cancel_sales_order: draft/quoted/confirmed sales are cancelled. A processing sale with nothing
  shipped or invoiced has its open shipments cancelled and the cancelled moves ignored (the
  sale's shipment-exception wizard); Tryton then ends it as done with nothing delivered, which
  is reported as cancelled. A sale whose goods left is refused (return and credit it instead).
- capture_payment / refund_payment: `account_payment` + `sale_payment`: a receivable payment on
  the sale, through Tryton's manual process method (submitted, processed, succeeded), which only
  records that the money was received (no card gateway is involved); the refund is a payable
  payment of the same amount to the customer, or failing the payment if it had not succeeded.
  The test card `tok_declined` (the demo's declined order, as on the reference ERP) is refused
  with BusinessRuleError("PaymentDeclined") before anything is recorded.
- create_shipment / confirm_delivery: the customer shipment the sale made: assigned (Tryton's
  stock reservation), picked and packed; then done on delivery. The tracking number is the
  shipment number (core Tryton has no carrier tracking).
- cancel_shipment: an open shipment is cancelled; a done one gets a draft customer return
  shipment (reported as return requested).
- create_invoice / credit_invoice: the draft invoice Tryton made when the goods left, posted;
  credited with the credit wizard (with refund: credit note posted and reconciled, original
  cancelled), or cancelled while still a draft.
- order_changes / customer_changes: sales and parties as change feeds for the ERP→CRM sync,
  keyed by (last_modified_at, id), Tryton's COALESCE(write_date, create_date); `updated_since`
  inclusive, a cursor after the last record; at least once. A sale's status: cancelled,
  invoiced once its invoice is posted, else open (see `_sale_statuses`); order_date is the
  sale date. customer_changes' `company` is the name on the customer's first address (Tryton
  parties have no separate company field).

Credit: the API user is in Tryton's "Credit Limit" group, so confirming a sale over the
customer's limit raises a warning, not an error. With `accept_credit_warnings` (the default) the
connector acknowledges it as a user clicking "Yes" would (`res.user.warning.skip`): by then
Continuum's approval gate has decided on the customer's credit, from the same Tryton figures.
Without it, the warning is a BusinessRuleError with Tryton's message and the sale is discarded.

Errors: a Tryton UserError or UserWarning (REST 400 with a message, JSON-RPC `error`) is a
BusinessRuleError carrying Tryton's message; 403 is InvalidRequestError, 404 NotFoundError;
a JSON-RPC ConcurrencyException, 429/502/503/504, timeouts and connection failures are
TransientError (with Retry-After); other 5xx are Tryton bugs a retry repeats (InvalidRequestError).
JSON-RPC answers 401 by logging in again once and retrying the call once; REST answers 401
(application key refused) with InvalidRequestError. Nothing here retries anything else.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import httpx

from domain.credit import CreditStatus
from domain.erp import (
    CustomerChange,
    CustomerChangePage,
    Invoice,
    OrderChange,
    OrderChangePage,
    Payment,
    Reservation,
    SalesOrder,
    SalesOrderStatus,
    Shipment,
    ShipmentStatus,
    StockLine,
    StockStatus,
)
from domain.errors import (
    BusinessRuleError,
    ConflictError,
    IntegrationError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
)
from domain.orders.models import Address, Order, OrderLine, PaymentMethod

SYSTEM = "tryton"
log = logging.getLogger(__name__)

_RESERVATION_PREFIX = "reservation:"
_OPEN_SHIPMENT_STATES = ("draft", "waiting", "assigned", "picked", "packed", "shipped")
_TRANSIENT_STATUSES = (429, 502, 503, 504)
# The demo's test card, as on the reference ERP: always declined (PaymentDeclined).
DECLINED_TEST_CARD = "tok_declined"


class ErpSettings(Protocol):
    """What `from_settings` reads from `continuum.settings.Settings` (structurally)."""

    @property
    def erp_url(self) -> str: ...
    @property
    def tryton_credentials_file(self) -> Path | None: ...
    @property
    def http_timeout_seconds(self) -> float: ...


@dataclass(frozen=True)
class TrytonSettings:
    """Where Tryton is and who the connector is there (see `services.tryton` for the user)."""

    url: str  # e.g. http://127.0.0.1:8000
    database: str
    application_key: str  # REST application key (res.user.application)
    login: str  # the same user's login and password, for JSON-RPC wizards
    password: str
    payment_journal: str = "Manual"
    # Acknowledge Tryton's credit-limit warning when confirming a sale, as a user clicking
    # "Yes" would: Continuum's approval gate has already decided on the customer's credit.
    accept_credit_warnings: bool = True
    timeout: float = 30.0


# ---------------------------------------------------------------------------------------------
# Tryton's JSON: Decimal, date and datetime travel as {"__class__": ...} objects


def _decode_hook(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "datetime":
        return dt.datetime(
            obj["year"],
            obj["month"],
            obj["day"],
            obj["hour"],
            obj["minute"],
            obj["second"],
            obj["microsecond"],
        )
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    return obj


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, Mapping):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    return json.dumps(_encode(value), separators=(",", ":"))


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(_dumps(value).encode()).decode()


def _loads(text: str | bytes) -> Any:
    return json.loads(text, object_hook=_decode_hook)


def _utc(value: dt.datetime) -> dt.datetime:
    """Tryton's timestamps are naive UTC."""
    return value.replace(tzinfo=dt.UTC)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _record_id(value: str, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise NotFoundError(SYSTEM, "NotFound", f"{what} {value!r} is not a Tryton id") from None
    if number <= 0:
        raise NotFoundError(SYSTEM, "NotFound", f"{what} {value!r} is not a Tryton id")
    return number


def _ref_id(value: Any) -> int | None:
    """The id of a Many2One as REST returns it: an int, or a dict when sub-fields were asked."""
    if isinstance(value, dict):
        return int(value["id"])
    return int(value) if value is not None else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class _Environment:
    company: int
    company_party: int
    currency: int
    currency_code: str
    warehouse: int
    warehouse_storage: int
    customer_location: int
    return_location: int
    payment_journal: int


class _TrytonWarning(BusinessRuleError):
    """A UserWarning: Tryton asks the user to confirm; `name` is what acknowledging it takes."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(SYSTEM, "UserWarning", message)
        self.name = name


class _Unauthorized(Exception):
    """JSON-RPC answered 401: the session expired or was revoked."""


class TrytonErpClient:
    """Implements `domain.erp.ErpPort` on Tryton 8.2; raises `domain.errors`, never retries."""

    def __init__(
        self, settings: TrytonSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._settings = settings
        base = f"{settings.url.rstrip('/')}/{settings.database}"
        self._http = httpx.AsyncClient(
            base_url=base,
            timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 5.0)),
            transport=transport,
        )
        self._rest_auth = {"Authorization": f"bearer {settings.application_key}"}
        self._session: str | None = None
        self._rpc_id = 0
        self._env: _Environment | None = None

    @classmethod
    def from_settings(cls, settings: ErpSettings) -> TrytonErpClient:
        """A client from the worker's settings: ERP_URL is Tryton's root URL; the database,
        login, password and REST application key come from TRYTON_CREDENTIALS_FILE, the JSON
        that `python -m services.tryton setup` writes (its one source, kept with mode 0600).
        """
        path = settings.tryton_credentials_file
        if path is None:
            raise ValueError(
                "TRYTON_CREDENTIALS_FILE is not set: it names the api-credentials.json "
                "that `python -m services.tryton setup --dir D` writes"
            )
        stored = json.loads(Path(path).read_text())
        return cls(
            TrytonSettings(
                url=settings.erp_url,
                database=str(stored["database"]),
                application_key=str(stored["application_key"]),
                login=str(stored["login"]),
                password=str(stored["password"]),
                timeout=settings.http_timeout_seconds,
            )
        )

    async def aclose(self) -> None:
        if self._session is not None:
            with contextlib.suppress(IntegrationError, _Unauthorized, httpx.HTTPError):
                await self._rpc_once("common.db.logout", [])
            self._session = None
        await self._http.aclose()

    # -----------------------------------------------------------------------------------------
    # Transport: REST

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request)
        except httpx.TimeoutException as err:
            raise TransientError(SYSTEM, "Timeout", f"{type(err).__name__}: {err}") from err
        except httpx.TransportError as err:
            raise TransientError(SYSTEM, "ConnectionError", f"{type(err).__name__}: {err}") from err

    def _context(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        context: dict[str, Any] = {}
        if self._env is not None:
            context["company"] = self._env.company
        context.update(extra or {})
        return context

    async def _rest(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> Any:
        headers = dict(self._rest_auth)
        ctx = self._context(context)
        if ctx:
            headers["X-Tryton-Context"] = _b64(ctx)
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = _dumps(body)
        request = self._http.build_request(
            method, f"/rest/model/{path}", params=list(params), headers=headers, content=content
        )
        response = await self._send(request)
        if response.status_code == 204:
            return None
        if response.status_code < 400:
            return _loads(response.content) if response.content else None
        raise self._rest_error(method, path, response)

    def _rest_error(self, method: str, path: str, response: httpx.Response) -> IntegrationError:
        status = response.status_code
        message: str | None = None
        try:
            body = _loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("message"):
            message = str(body["message"])
            if body.get("description"):
                message = f"{message} {body['description']}".strip()
        where = f"{method} {path}"
        if status == 400 and message is not None:
            # UserError / UserWarning: Tryton refused on business grounds.
            return BusinessRuleError(SYSTEM, "UserError", message, status=status)
        if status == 401:
            return InvalidRequestError(
                SYSTEM,
                "Unauthorized",
                f"Tryton refused the REST application key ({where})",
                status=status,
            )
        if status == 403:
            return InvalidRequestError(
                SYSTEM, "Forbidden", message or f"access denied by Tryton ({where})", status=status
            )
        if status == 404:
            return NotFoundError(
                SYSTEM, "NotFound", message or f"not found ({where})", status=status
            )
        if status in _TRANSIENT_STATUSES:
            return TransientError(
                SYSTEM,
                "Unavailable" if status != 429 else "RateLimited",
                message or f"Tryton answered {status} ({where})",
                status=status,
                retry_after=_retry_after(response),
            )
        if status >= 500:
            text = response.text.strip()[:300]
            return InvalidRequestError(
                SYSTEM, "ServerError", f"Tryton failed on {where}: {text}", status=status
            )
        return InvalidRequestError(
            SYSTEM, f"HTTP{status}", message or f"Tryton answered {status} ({where})", status=status
        )

    async def _search(
        self,
        model: str,
        domain: list[Any],
        fields: Iterable[str],
        *,
        limit: int | None = None,
        order: list[tuple[str, str]] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        params = [("d", _b64(domain))] + [("f", f) for f in fields]
        if limit is not None:
            params.append(("s", str(limit)))
        if order:
            params.append(("o", _b64([list(o) for o in order])))
        result: list[dict[str, Any]] = await self._rest(
            "GET", model, params=params, context=context
        )
        return result

    async def _read(
        self, model: str, record_id: int, fields: Iterable[str], *, what: str | None = None
    ) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await self._rest(
                "GET", f"{model}/{record_id}", params=[("f", f) for f in fields]
            )
        except NotFoundError:
            raise NotFoundError(
                SYSTEM, "NotFound", f"{what or model} {record_id} does not exist in Tryton"
            ) from None
        return result

    async def _create(self, model: str, values: Mapping[str, Any]) -> int:
        result = await self._rest("POST", model, body=dict(values))
        return int(result["id"])

    async def _write(self, model: str, record_id: int, values: Mapping[str, Any]) -> None:
        await self._rest("PUT", f"{model}/{record_id}", body=dict(values))

    async def _delete(self, model: str, record_id: int) -> None:
        await self._rest("DELETE", f"{model}/{record_id}")

    async def _button(self, model: str, record_id: int, button: str) -> None:
        await self._rest("POST", f"{model}/{record_id}/{button}", body={})

    # -----------------------------------------------------------------------------------------
    # Transport: JSON-RPC (wizards)

    async def _login(self) -> None:
        params = [self._settings.login, {"password": self._settings.password}, "en"]
        request = self._http.build_request(
            "POST",
            "/rpc/",
            content=_dumps({"id": 0, "method": "common.db.login", "params": params}),
            headers={"Content-Type": "application/json"},
        )
        response = await self._send(request)
        if response.status_code == 429:
            raise TransientError(
                SYSTEM,
                "LoginRateLimited",
                "Tryton locked the API login after failed attempts",
                status=429,
                retry_after=_retry_after(response) or 300.0,
            )
        if response.status_code in (401, 403):
            raise InvalidRequestError(
                SYSTEM,
                "LoginFailed",
                f"Tryton refused the login {self._settings.login!r}",
                status=response.status_code,
            )
        if response.status_code >= 400:
            raise self._rest_error("POST", "rpc common.db.login", response)
        payload = _loads(response.content)
        if payload.get("error"):
            raise self._rpc_error("common.db.login", payload["error"])
        user_id, token = payload["result"][:2]
        raw = f"{self._settings.login}:{user_id}:{token}".encode()
        self._session = base64.b64encode(raw).decode()

    async def _rpc_once(self, method: str, params: list[Any]) -> Any:
        if self._session is None:
            await self._login()
        self._rpc_id += 1
        request = self._http.build_request(
            "POST",
            "/rpc/",
            content=_dumps({"id": self._rpc_id, "method": method, "params": params}),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Session {self._session}",
            },
        )
        response = await self._send(request)
        if response.status_code == 401:
            self._session = None
            raise _Unauthorized(method)
        if response.status_code >= 400:
            raise self._rest_error("POST", f"rpc {method}", response)
        payload = _loads(response.content)
        if payload.get("error"):
            raise self._rpc_error(method, payload["error"])
        return payload.get("result")

    async def _rpc(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; on 401 logs in again once and retries the call once."""
        try:
            return await self._rpc_once(method, list(params))
        except _Unauthorized:
            log.info("Tryton session refused on %s; logging in again", method)
        try:
            return await self._rpc_once(method, list(params))
        except _Unauthorized:
            raise InvalidRequestError(
                SYSTEM, "Unauthorized", f"Tryton refused a fresh session for {method}", status=401
            ) from None

    def _rpc_error(self, method: str, error: Any) -> IntegrationError:
        kind = error[0] if isinstance(error, list | tuple) and error else str(error)
        args = error[1] if isinstance(error, list | tuple) and len(error) > 1 else None
        if kind == "UserError":
            message, description = [*list(args or []), "", ""][:2]
            text = f"{message} {description}".strip()
            return BusinessRuleError(SYSTEM, "UserError", text or "Tryton refused")
        if kind == "UserWarning":
            # (name, message, description): a warning the API user has no way to acknowledge.
            parts = [*list(args or []), "", "", ""]
            text = f"{parts[1]} {parts[2]}".strip()
            return _TrytonWarning(str(parts[0]), text or "Tryton warned")
        if kind == "ConcurrencyException":
            return TransientError(SYSTEM, "Concurrency", str(args or "record changed meanwhile"))
        if kind == "LoginException":
            return InvalidRequestError(SYSTEM, "LoginRequired", f"Tryton asked for login: {args}")
        return InvalidRequestError(SYSTEM, "ServerError", f"Tryton failed on {method}: {kind}")

    async def _wizard(
        self,
        name: str,
        model: str,
        record_ids: list[int],
        steps: list[tuple[str, dict[str, Any]]],
    ) -> None:
        """Runs a wizard on records: each step executes a state with the data of the forms."""
        context = self._context(
            {"active_model": model, "active_id": record_ids[0], "active_ids": record_ids}
        )
        session_id, start_state, _end = await self._rpc(f"wizard.{name}.create", context)
        try:
            await self._rpc(f"wizard.{name}.execute", session_id, {}, start_state, context)
            for state, data in steps:
                await self._rpc(f"wizard.{name}.execute", session_id, data, state, context)
        finally:
            try:
                await self._rpc(f"wizard.{name}.delete", session_id, context)
            except IntegrationError:
                log.warning("could not delete Tryton wizard session %s of %s", session_id, name)

    # -----------------------------------------------------------------------------------------
    # What every call needs: company, currency, warehouse, journal

    async def _environment(self) -> _Environment:
        if self._env is not None:
            return self._env
        companies = await self._search(
            "company.company", [], ["party", "currency", "currency.code"], limit=1
        )
        if not companies:
            raise InvalidRequestError(SYSTEM, "NotConfigured", "Tryton has no company")
        company = companies[0]
        warehouses = await self._search(
            "stock.location",
            [("type", "=", "warehouse")],
            ["input_location", "storage_location"],
            limit=1,
        )
        customers = await self._search(
            "stock.location", [("type", "=", "customer")], ["id"], limit=1
        )
        journals = await self._search(
            "account.payment.journal",
            [("name", "=", self._settings.payment_journal)],
            ["id"],
            limit=1,
            context={"company": company["id"]},
        )
        if not warehouses or not customers:
            raise InvalidRequestError(SYSTEM, "NotConfigured", "Tryton has no warehouse")
        if not journals:
            raise InvalidRequestError(
                SYSTEM,
                "NotConfigured",
                f"Tryton has no payment journal {self._settings.payment_journal!r}",
            )
        self._env = _Environment(
            company=int(company["id"]),
            company_party=int(_ref_id(company["party"]) or 0),
            currency=int(company["currency"]["id"]),
            currency_code=str(company["currency"]["code"]),
            warehouse=int(warehouses[0]["id"]),
            warehouse_storage=int(_ref_id(warehouses[0]["storage_location"]) or 0),
            customer_location=int(customers[0]["id"]),
            return_location=int(_ref_id(warehouses[0]["input_location"]) or 0),
            payment_journal=int(journals[0]["id"]),
        )
        return self._env

    # -----------------------------------------------------------------------------------------
    # Look-ups

    async def _party(self, code: str) -> dict[str, Any]:
        await self._environment()
        found = await self._search(
            "party.party",
            [("code", "=", code), ("active", "in", [True, False])],
            [
                "code",
                "name",
                "active",
                "email",
                "credit_limit_amount",
                "credit_amount",
                "addresses",
                "customer_payment_term",
                "write_date",
                "create_date",
            ],
            limit=1,
        )
        if not found:
            raise NotFoundError(SYSTEM, "UnknownCustomer", f"Tryton has no party with code {code}")
        return found[0]

    async def _products(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        env = await self._environment()
        wanted = sorted(set(skus))
        found = await self._search(
            "product.product",
            [("code", "in", wanted)],
            ["code", "quantity", "forecast_quantity", "default_uom", "salable"],
            context={"locations": [env.warehouse]},
        )
        return {str(p["code"]): p for p in found}

    async def _known_products(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The products of these codes, or NotFoundError naming the codes Tryton does not have.

        The message is the connector's, stating what Tryton answered: Tryton has no error for
        an unknown code. A code is only a search criterion, and a search that finds nothing is
        an empty answer. Tryton's own message about a missing product ('The value "N" for
        field "Product" in record "1" of "Sale Line" is not valid according to its domain.')
        needs a product id, which an unknown code never has, and names no code. So the order
        is refused before any sale is created: nothing is left behind in Tryton.
        """
        wanted = set(skus)
        products = await self._products(wanted)
        unknown = sorted(wanted - set(products))
        if unknown:
            raise NotFoundError(
                SYSTEM,
                "UnknownProduct",
                f"Tryton has no product with code {', '.join(unknown)} "
                "(its product search by code found none)",
            )
        return products

    _SALE_FIELDS = (
        "reference",
        "number",
        "state",
        "total_amount",
        "currency.code",
        "party.code",
        "party.name",
        "sale_date",
        "shipments",
        "shipment_returns",
        "invoices",
        "moves",
        "invoice_state",
        "shipment_state",
        "write_date",
        "create_date",
    )

    async def _sale_by_order(self, order_id: str) -> dict[str, Any] | None:
        await self._environment()
        found = await self._search(
            "sale.sale",
            [("reference", "=", order_id)],
            self._SALE_FIELDS,
            order=[("id", "DESC")],
        )
        # A cancelled attempt never hides a live one.
        live = [s for s in found if s["state"] != "cancelled"]
        candidates = live or found
        return candidates[0] if candidates else None

    async def _order_sale(self, order_id: str, sales_order_id: str) -> dict[str, Any]:
        """The sale, refused when it belongs to another order (a key reused across orders)."""
        sale = await self._sale(sales_order_id)
        if sale.get("reference") != order_id:
            raise ConflictError(
                SYSTEM,
                "IdempotencyConflict",
                f"sale {sales_order_id} belongs to order {sale.get('reference')}, not {order_id}",
            )
        return sale

    async def _sale(self, sales_order_id: str) -> dict[str, Any]:
        await self._environment()
        return await self._read(
            "sale.sale", _record_id(sales_order_id, "sale"), self._SALE_FIELDS, what="sale"
        )

    async def _sales_order(self, sale: dict[str, Any]) -> SalesOrder:
        return SalesOrder(
            sales_order_id=str(sale["id"]),
            order_id=str(sale.get("reference") or sale.get("number") or sale["id"]),
            status=await self._sale_status(sale),
            total=Decimal(sale.get("total_amount") or 0),
            currency=str((sale.get("currency") or {}).get("code", "")),
        )

    async def _sale_status(self, sale: dict[str, Any]) -> SalesOrderStatus:
        return (await self._sale_statuses([sale]))[0]

    async def _sale_statuses(self, sales: Sequence[dict[str, Any]]) -> list[SalesOrderStatus]:
        """Cancelled; invoiced once Tryton posted the invoice; else open. A processed sale
        whose moves were all cancelled and set aside delivers nothing: cancelled. The moves of
        all the sales are read in one search (a feed page holds hundreds)."""

        def invoiced(sale: dict[str, Any]) -> bool:
            return sale.get("invoice_state") in ("awaiting payment", "partially paid", "paid")

        def processed(sale: dict[str, Any]) -> bool:
            return (
                sale["state"] in ("processing", "done")
                and sale.get("shipment_state") != "exception"
                and not invoiced(sale)
            )

        move_ids = [int(m) for s in sales if processed(s) for m in s.get("moves") or []]
        move_states: dict[int, str] = {}
        if move_ids:
            found = await self._search("stock.move", [("id", "in", move_ids)], ["state"])
            move_states = {int(m["id"]): str(m["state"]) for m in found}
        statuses = []
        for sale in sales:
            states = [move_states.get(int(m)) for m in sale.get("moves") or []]
            if sale["state"] == "cancelled":
                statuses.append(SalesOrderStatus.CANCELLED)
            elif invoiced(sale):
                statuses.append(SalesOrderStatus.INVOICED)
            elif processed(sale) and states and all(s == "cancelled" for s in states):
                statuses.append(SalesOrderStatus.CANCELLED)
            else:
                statuses.append(SalesOrderStatus.OPEN)
        return statuses

    # -----------------------------------------------------------------------------------------
    # Reads

    async def get_credit(self, customer_id: str) -> CreditStatus:
        party = await self._party(customer_id)
        limit = party.get("credit_limit_amount")
        return CreditStatus(
            customer_id=customer_id,
            credit_limit=Decimal(limit) if limit is not None else Decimal("0"),
            exposure=Decimal(party.get("credit_amount") or 0),
            blocked=not party.get("active", True),
        )

    async def check_stock(self, lines: list[OrderLine]) -> StockStatus:
        # An unknown code is NotFound, as on the reference ERP, not a shortage of zero.
        return self._stock_status(lines, await self._known_products(line.sku for line in lines))

    def _stock_status(
        self, lines: list[OrderLine], products: Mapping[str, dict[str, Any]]
    ) -> StockStatus:
        requested: dict[str, int] = {}
        for line in lines:
            requested[line.sku] = requested.get(line.sku, 0) + line.quantity
        return StockStatus(
            lines=[
                StockLine(sku=sku, requested=qty, available=self._available(products.get(sku)))
                for sku, qty in requested.items()
            ]
        )

    @staticmethod
    def _available(product: dict[str, Any] | None) -> int:
        """Free to promise: on hand, less what confirmed sales already plan to take."""
        if product is None:
            return 0
        on_hand = float(product.get("quantity") or 0)
        forecast = float(product.get("forecast_quantity") or 0)
        return max(0, int(min(on_hand, forecast)))

    # -----------------------------------------------------------------------------------------
    # Stock "reservation": the sale's planned moves and the shipment's assignment

    async def reserve_stock(
        self, order_id: str, lines: list[OrderLine], *, idempotency_key: str
    ) -> Reservation:
        reservation = Reservation(
            reservation_id=f"{_RESERVATION_PREFIX}{order_id}", order_id=order_id, status="active"
        )
        sale = await self._sale_by_order(order_id)
        if sale is not None and sale["state"] != "cancelled":
            # The sale exists: its own moves hold the stock now (a retry after it was made).
            return reservation
        products = await self._known_products(line.sku for line in lines)
        status = self._stock_status(lines, products)
        if status.shortages:
            short = ", ".join(
                f"{s.sku} (requested {s.requested}, available {s.available})"
                for s in status.shortages
            )
            raise BusinessRuleError(SYSTEM, "InsufficientStock", f"insufficient stock: {short}")
        return reservation

    async def release_stock(self, reservation_id: str, *, idempotency_key: str) -> Reservation:
        if not reservation_id.startswith(_RESERVATION_PREFIX):
            raise NotFoundError(SYSTEM, "NotFound", f"no Tryton reservation {reservation_id!r}")
        order_id = reservation_id.removeprefix(_RESERVATION_PREFIX)
        sale = await self._sale_by_order(order_id)
        if sale is not None:
            for shipment in await self._shipments(sale):
                if shipment["state"] == "assigned":
                    # Un-assign: back to waiting, its moves to draft, the stock free again.
                    await self._button("stock.shipment.out", int(shipment["id"]), "wait")
                elif shipment["state"] in ("picked", "packed"):
                    raise BusinessRuleError(
                        SYSTEM,
                        "ShipmentPicked",
                        f"shipment {shipment['number']} is {shipment['state']}: its stock "
                        "stays taken until the shipment is cancelled",
                    )
        return Reservation(reservation_id=reservation_id, order_id=order_id, status="released")

    # -----------------------------------------------------------------------------------------
    # Sales orders

    async def create_sales_order(self, order: Order, *, idempotency_key: str) -> SalesOrder:
        env = await self._environment()
        sale = await self._sale_by_order(order.order_id)
        if sale is not None and sale["state"] in ("confirmed", "processing", "done", "cancelled"):
            if sale["state"] != "cancelled" and Decimal(sale["total_amount"]) != order.total:
                raise ConflictError(
                    SYSTEM,
                    "IdempotencyConflict",
                    f"sale {sale['id']} for order {order.order_id} totals "
                    f"{sale['total_amount']}, not {order.total}",
                )
            return await self._sales_order(sale)
        if sale is None:
            sale_id = await self._new_sale(order, env)
        else:
            sale_id = int(sale["id"])  # a draft or quotation left by an interrupted attempt
        try:
            current = await self._read("sale.sale", sale_id, ["state"])
            if current["state"] == "draft":
                await self._button("sale.sale", sale_id, "quote")
            await self._confirm(sale_id)
        except BusinessRuleError:
            await self._discard_sale(sale_id)
            raise
        return await self._sales_order(await self._sale(str(sale_id)))

    async def _new_sale(self, order: Order, env: _Environment) -> int:
        products = await self._known_products(line.sku for line in order.lines)
        party = await self._party(order.customer.customer_id)
        if not party.get("active", True):
            raise BusinessRuleError(
                SYSTEM,
                "CustomerBlocked",
                f"customer {order.customer.customer_id} is archived in Tryton",
            )
        if order.currency != env.currency_code:
            currencies = await self._search(
                "currency.currency", [("code", "=", order.currency)], ["id"], limit=1
            )
            if not currencies:
                raise InvalidRequestError(
                    SYSTEM, "UnknownCurrency", f"Tryton has no currency {order.currency}"
                )
            currency = int(currencies[0]["id"])
        else:
            currency = env.currency
        addresses = list(party.get("addresses") or [])
        if not addresses:
            raise BusinessRuleError(
                SYSTEM, "NoAddress", f"customer {order.customer.customer_id} has no address"
            )
        shipment_address = await self._delivery_address(int(party["id"]), order.shipping_address)
        values: dict[str, Any] = {
            "company": env.company,
            "party": int(party["id"]),
            "currency": currency,
            "warehouse": env.warehouse,
            "reference": order.order_id,
            "description": f"Continuum order {order.order_id}",
            "comment": self._payment_note(order.payment_method, order.payment_reference),
            "invoice_address": int(addresses[0]),
            "shipment_address": shipment_address,
            "shipment_method": "order",
            "invoice_method": "fulfillment",
            "lines": [
                [
                    "create",
                    [
                        {
                            "type": "line",
                            "product": int(products[line.sku]["id"]),
                            "quantity": float(line.quantity),
                            "unit": _ref_id(products[line.sku]["default_uom"]),
                            "unit_price": line.unit_price,
                        }
                        for line in order.lines
                    ],
                ]
            ],
        }
        if party.get("customer_payment_term") is not None:
            values["payment_term"] = _ref_id(party["customer_payment_term"])
        return await self._create("sale.sale", values)

    async def _confirm(self, sale_id: int) -> None:
        """Confirms over JSON-RPC, the only API that names a warning so it can be acknowledged."""
        context = self._context()
        try:
            await self._rpc("model.sale.sale.confirm", [sale_id], context)
        except _TrytonWarning as warning:
            if not (
                self._settings.accept_credit_warnings
                and warning.name.endswith(".credit_limit_amount")
            ):
                raise
            log.info("acknowledging Tryton's credit-limit warning for sale %s", sale_id)
            await self._rpc("model.res.user.warning.skip", warning.name, False, context)
            await self._rpc("model.sale.sale.confirm", [sale_id], context)

    @staticmethod
    def _payment_note(method: PaymentMethod, reference: str | None) -> str:
        note = f"Payment method: {method.value}"
        return f"{note} ({reference})" if reference else note

    async def _delivery_address(self, party_id: int, address: Address) -> int:
        countries = await self._search(
            "country.country", [("code", "=", address.country.upper())], ["id"], limit=1
        )
        country = int(countries[0]["id"]) if countries else None
        found = await self._search(
            "party.address",
            [
                ("party", "=", party_id),
                ("street", "=", address.street),
                ("postal_code", "=", address.postal_code),
                ("city", "=", address.city),
                ("country", "=", country),
            ],
            ["id"],
            limit=1,
        )
        if found:
            return int(found[0]["id"])
        return await self._create(
            "party.address",
            {
                "party": party_id,
                "party_name": address.name,
                "street": address.street,
                "postal_code": address.postal_code,
                "city": address.city,
                "country": country,
            },
        )

    async def _discard_sale(self, sale_id: int) -> None:
        """Leaves no sale behind after Tryton refused it: back to draft, then deleted."""
        try:
            current = await self._read("sale.sale", sale_id, ["state"])
            if current["state"] == "quotation":
                await self._button("sale.sale", sale_id, "draft")
            await self._delete("sale.sale", sale_id)
        except IntegrationError as err:
            log.warning("could not discard refused Tryton sale %s: %s", sale_id, err)

    async def cancel_sales_order(self, sales_order_id: str, *, idempotency_key: str) -> SalesOrder:
        sale = await self._sale(sales_order_id)
        sale_id = int(sale["id"])
        state = sale["state"]
        if state in ("draft", "quotation"):
            await self._button("sale.sale", sale_id, "cancel")
        elif state == "confirmed":
            await self._button("sale.sale", sale_id, "draft")
            await self._button("sale.sale", sale_id, "cancel")
        elif state in ("processing", "done"):
            await self._cancel_processing_sale(sale)  # carries on from wherever it stopped
        return await self._sales_order(await self._sale(sales_order_id))

    async def _cancel_processing_sale(self, sale: dict[str, Any]) -> None:
        sale_id = int(sale["id"])
        shipments = await self._shipments(sale)
        if any(s["state"] == "done" for s in shipments):
            raise BusinessRuleError(
                SYSTEM,
                "SaleDelivered",
                f"sale {sale_id} was delivered and cannot be cancelled in Tryton; "
                "credit its invoice and take the goods back with a return shipment",
            )
        invoices = await self._invoices(sale)
        if any(i["state"] in ("posted", "paid") for i in invoices):
            raise BusinessRuleError(
                SYSTEM, "SaleInvoiced", f"sale {sale_id} is invoiced; credit the invoice first"
            )
        for shipment in shipments:
            if shipment["state"] in _OPEN_SHIPMENT_STATES:
                await self._button("stock.shipment.out", int(shipment["id"]), "cancel")
        for invoice in invoices:
            if invoice["state"] in ("draft", "validated"):
                await self._button("account.invoice", int(invoice["id"]), "cancel")
        sale = await self._sale(str(sale_id))
        if sale.get("shipment_state") == "exception":
            lines = await self._search(
                "sale.line", [("sale", "=", sale_id)], ["moves", "moves_ignored"]
            )
            moves = [m for line in lines for m in line.get("moves") or []]
            ignored = {m for line in lines for m in line.get("moves_ignored") or []}
            moves_states = await self._search("stock.move", [("id", "in", moves)], ["state"])
            to_ignore = [
                int(m["id"])
                for m in moves_states
                if m["state"] == "cancelled" and m["id"] not in ignored
            ]
            if to_ignore:
                await self._wizard(
                    "sale.handle.shipment.exception",
                    "sale.sale",
                    [sale_id],
                    [
                        (
                            "handle",
                            {
                                "ask": {
                                    "recreate_moves": [],
                                    "ignore_moves": to_ignore,
                                    "domain_moves": to_ignore,
                                }
                            },
                        )
                    ],
                )

    # -----------------------------------------------------------------------------------------
    # Payments

    async def capture_payment(
        self,
        order_id: str,
        amount: Decimal,
        currency: str,
        method: PaymentMethod,
        reference: str | None,
        *,
        idempotency_key: str,
    ) -> Payment:
        if reference == DECLINED_TEST_CARD:
            # Like the reference ERP: the demo's test card is refused before anything is recorded.
            raise BusinessRuleError(
                SYSTEM,
                "PaymentDeclined",
                f"the card {reference} was declined for order {order_id}",
            )
        env = await self._environment()
        sale = await self._sale_by_order(order_id)
        if sale is None:
            raise NotFoundError(SYSTEM, "NotFound", f"Tryton has no sale for order {order_id}")
        if currency != env.currency_code:
            raise InvalidRequestError(
                SYSTEM,
                "UnsupportedCurrency",
                f"the payment journal takes {env.currency_code}, not {currency}",
            )
        origin = f"sale.sale,{sale['id']}"
        existing = await self._payments(origin, "receivable")
        live = [p for p in existing if p["state"] != "failed"]
        if live:
            payment = live[0]
            if Decimal(payment["amount"]) != amount:
                raise ConflictError(
                    SYSTEM,
                    "IdempotencyConflict",
                    f"payment {payment['id']} for order {order_id} is {payment['amount']}, "
                    f"not {amount}",
                )
            payment_id = int(payment["id"])
        else:
            party = await self._party(str(sale["party"]["code"]))
            payment_id = await self._create(
                "account.payment",
                {
                    "company": env.company,
                    "journal": env.payment_journal,
                    "kind": "receivable",
                    "party": int(party["id"]),
                    "amount": amount,
                    "date": dt.date.today(),
                    "origin": origin,
                    "reference": (reference or order_id)[:100],
                },
            )
        await self._drive_payment(payment_id)
        payment = await self._read("account.payment", payment_id, ["state", "amount"])
        return Payment(
            payment_id=str(payment_id),
            order_id=order_id,
            amount=Decimal(payment["amount"]),
            currency=env.currency_code,
            status="captured" if payment["state"] == "succeeded" else str(payment["state"]),
        )

    async def _payments(self, origin: str, kind: str) -> list[dict[str, Any]]:
        return await self._search(
            "account.payment",
            [("origin", "=", origin), ("kind", "=", kind)],
            ["state", "amount", "reference", "party"],
            order=[("id", "ASC")],
        )

    async def _drive_payment(self, payment_id: int) -> None:
        """Moves a manual payment on to succeeded, from wherever an earlier attempt left it."""
        payment = await self._read("account.payment", payment_id, ["state", "kind"])
        if payment["state"] == "draft":
            await self._button("account.payment", payment_id, "submit")
            payment["state"] = "submitted"
        if payment["state"] == "submitted" and payment["kind"] == "payable":
            await self._button("account.payment", payment_id, "approve")
            payment["state"] = "approved"
        if payment["state"] in ("submitted", "approved"):
            await self._wizard("account.payment.process", "account.payment", [payment_id], [])
            payment = await self._read("account.payment", payment_id, ["state", "kind"])
        if payment["state"] == "processing":
            await self._button("account.payment", payment_id, "succeed")

    async def refund_payment(self, payment_id: str, *, idempotency_key: str) -> Payment:
        env = await self._environment()
        original = await self._read(
            "account.payment",
            _record_id(payment_id, "payment"),
            ["state", "kind", "amount", "origin", "party", "reference"],
            what="payment",
        )
        if original["kind"] != "receivable":
            raise InvalidRequestError(
                SYSTEM, "NotACapture", f"payment {payment_id} is a {original['kind']} payment"
            )
        origin = original.get("origin")
        order_id = str(original.get("reference") or "")
        if isinstance(origin, str) and origin.startswith("sale.sale,"):
            sale = await self._sale(origin.split(",", 1)[1])
            order_id = str(sale.get("reference") or order_id)
        if original["state"] in ("draft", "submitted", "approved", "processing"):
            # Nothing was collected yet: the capture simply fails.
            if original["state"] == "processing":
                await self._button("account.payment", int(original["id"]), "fail")
            elif original["state"] in ("submitted", "approved"):
                await self._button("account.payment", int(original["id"]), "draft")
                await self._delete("account.payment", int(original["id"]))
            else:
                await self._delete("account.payment", int(original["id"]))
        elif original["state"] == "succeeded":
            marker = f"refund of payment {original['id']}"
            refunds = [
                p
                for p in await self._payments(str(origin), "payable")
                if p.get("reference") == marker and p["state"] != "failed"
            ]
            if refunds:
                refund_id = int(refunds[0]["id"])
            else:
                refund_id = await self._create(
                    "account.payment",
                    {
                        "company": env.company,
                        "journal": env.payment_journal,
                        "kind": "payable",
                        "party": _ref_id(original["party"]),
                        "amount": Decimal(original["amount"]),
                        "date": dt.date.today(),
                        "origin": origin,
                        "reference": marker,
                    },
                )
            await self._drive_payment(refund_id)
        return Payment(
            payment_id=payment_id,
            order_id=order_id,
            amount=Decimal(original["amount"]),
            currency=env.currency_code,
            status="refunded",
        )

    # -----------------------------------------------------------------------------------------
    # Shipments

    async def _shipments(self, sale: dict[str, Any]) -> list[dict[str, Any]]:
        ids = list(sale.get("shipments") or [])
        if not ids:
            return []
        return await self._search(
            "stock.shipment.out",
            [("id", "in", ids)],
            ["state", "number", "reference"],
            order=[("id", "ASC")],
        )

    async def _returns(self, order_id: str) -> list[dict[str, Any]]:
        return await self._search(
            "stock.shipment.out.return",
            [("reference", "=", order_id), ("state", "!=", "cancelled")],
            ["state", "number"],
        )

    async def _shipment_result(self, shipment_id: int, order_id: str | None = None) -> Shipment:
        shipment = await self._read(
            "stock.shipment.out", shipment_id, ["state", "number", "reference"], what="shipment"
        )
        order = order_id or str(shipment.get("reference") or "")
        state = shipment["state"]
        if state == "done":
            status = ShipmentStatus.DELIVERED
            if order and await self._returns(order):
                status = ShipmentStatus.RETURN_REQUESTED
        elif state == "cancelled":
            status = ShipmentStatus.CANCELLED
        else:
            status = ShipmentStatus.CREATED
        return Shipment(
            shipment_id=str(shipment_id),
            order_id=order,
            status=status,
            tracking_number=f"TRYTON-{shipment['number']}",
        )

    async def create_shipment(
        self,
        order_id: str,
        sales_order_id: str,
        address: Address,
        lines: list[OrderLine],
        *,
        idempotency_key: str,
    ) -> Shipment:
        sale = await self._order_sale(order_id, sales_order_id)
        shipments = await self._shipments(sale)
        live = [s for s in shipments if s["state"] != "cancelled"]
        if not live:
            if shipments:
                return await self._shipment_result(int(shipments[-1]["id"]), order_id)
            if sale["state"] == "confirmed":
                # Tryton's queue makes the shipment when it processes the confirmed sale.
                raise TransientError(
                    SYSTEM,
                    "ShipmentPending",
                    f"sale {sales_order_id} is confirmed; Tryton has not processed it yet",
                )
            raise BusinessRuleError(
                SYSTEM,
                "NoShipment",
                f"Tryton made no customer shipment for sale {sales_order_id} "
                f"(sale state {sale['state']})",
            )
        shipment = live[0]
        shipment_id = int(shipment["id"])
        if shipment.get("reference") != order_id:
            await self._write("stock.shipment.out", shipment_id, {"reference": order_id})
        state = shipment["state"]
        if state == "draft":
            await self._button("stock.shipment.out", shipment_id, "wait")
            state = "waiting"
        if state == "waiting":
            await self._button("stock.shipment.out", shipment_id, "assign_try")
            state = (await self._read("stock.shipment.out", shipment_id, ["state"]))["state"]
            if state == "waiting":
                raise BusinessRuleError(
                    SYSTEM,
                    "InsufficientStock",
                    f"Tryton could not assign the stock of shipment {shipment['number']}",
                )
        if state == "assigned":
            await self._button("stock.shipment.out", shipment_id, "pick")
            state = "picked"
        if state == "picked":
            await self._button("stock.shipment.out", shipment_id, "pack")
        return await self._shipment_result(shipment_id, order_id)

    async def confirm_delivery(
        self, shipment_id: str, delivered_at: dt.datetime, *, idempotency_key: str
    ) -> Shipment:
        record_id = _record_id(shipment_id, "shipment")
        shipment = await self._read(
            "stock.shipment.out", record_id, ["state", "number"], what="shipment"
        )
        state = shipment["state"]
        if state == "cancelled":
            raise BusinessRuleError(
                SYSTEM, "ShipmentCancelled", f"shipment {shipment['number']} was cancelled"
            )
        if state in ("assigned", "picked"):
            raise BusinessRuleError(
                SYSTEM,
                "ShipmentNotPacked",
                f"shipment {shipment['number']} is {state}, not packed",
            )
        if state == "packed":
            await self._write(
                "stock.shipment.out",
                record_id,
                {"effective_date": _naive_utc(delivered_at).date()},
            )
            await self._button("stock.shipment.out", record_id, "do")
        elif state not in ("done", "shipped"):
            raise BusinessRuleError(
                SYSTEM, "ShipmentNotPacked", f"shipment {shipment['number']} is {state}"
            )
        if state == "shipped":
            await self._button("stock.shipment.out", record_id, "do")
        return await self._shipment_result(record_id)

    async def cancel_shipment(self, shipment_id: str, *, idempotency_key: str) -> Shipment:
        record_id = _record_id(shipment_id, "shipment")
        shipment = await self._read(
            "stock.shipment.out",
            record_id,
            ["state", "number", "reference", "customer", "delivery_address", "outgoing_moves"],
            what="shipment",
        )
        state = shipment["state"]
        if state in _OPEN_SHIPMENT_STATES:
            await self._button("stock.shipment.out", record_id, "cancel")
        elif state == "done":
            order_id = str(shipment.get("reference") or "")
            if not order_id or not await self._returns(order_id):
                await self._request_return(shipment)
        return await self._shipment_result(record_id)

    async def _request_return(self, shipment: dict[str, Any]) -> None:
        """A draft customer return shipment for everything the shipment delivered."""
        env = await self._environment()
        moves = await self._search(
            "stock.move",
            [("id", "in", list(shipment.get("outgoing_moves") or []))],
            ["product", "quantity", "unit", "unit_price", "currency", "state"],
        )
        await self._create(
            "stock.shipment.out.return",
            {
                "company": env.company,
                "customer": _ref_id(shipment["customer"]),
                "contact_address": _ref_id(shipment["delivery_address"]),
                "warehouse": env.warehouse,
                "warehouse_storage": env.warehouse_storage,
                "warehouse_input": env.return_location,
                "reference": shipment.get("reference") or f"return {shipment['number']}",
                "moves": [
                    [
                        "create",
                        [
                            {
                                "product": _ref_id(m["product"]),
                                "quantity": m["quantity"],
                                "unit": _ref_id(m["unit"]),
                                "from_location": env.customer_location,
                                "to_location": env.return_location,
                                "unit_price": m.get("unit_price"),
                                "currency": _ref_id(m.get("currency")) or env.currency,
                                "company": env.company,
                            }
                            for m in moves
                            if m["state"] == "done"
                        ],
                    ]
                ],
            },
        )

    # -----------------------------------------------------------------------------------------
    # Invoices

    async def _invoices(self, sale: dict[str, Any]) -> list[dict[str, Any]]:
        ids = list(sale.get("invoices") or [])
        if not ids:
            return []
        return await self._search(
            "account.invoice",
            [("id", "in", ids)],
            ["state", "number", "total_amount", "currency.code", "cancel_move"],
            order=[("id", "ASC")],
        )

    async def _invoice_result(self, invoice_id: int, order_id: str) -> Invoice:
        invoice = await self._read(
            "account.invoice",
            invoice_id,
            ["state", "total_amount", "currency.code", "cancel_move"],
            what="invoice",
        )
        status = {"posted": "posted", "paid": "posted", "cancelled": "credited"}.get(
            invoice["state"], str(invoice["state"])
        )
        return Invoice(
            invoice_id=str(invoice_id),
            order_id=order_id,
            amount=Decimal(invoice["total_amount"]),
            currency=str(invoice["currency"]["code"]),
            status=status,
        )

    async def create_invoice(
        self, order_id: str, sales_order_id: str, *, idempotency_key: str
    ) -> Invoice:
        sale = await self._order_sale(order_id, sales_order_id)
        invoices = await self._invoices(sale)
        done = [i for i in invoices if i["state"] in ("posted", "paid")]
        if done:
            return await self._invoice_result(int(done[0]["id"]), order_id)
        drafts = [i for i in invoices if i["state"] in ("draft", "validated")]
        if not drafts:
            if invoices:
                return await self._invoice_result(int(invoices[-1]["id"]), order_id)
            if sale.get("shipment_state") == "sent":
                # Delivered: Tryton's queue makes the invoice when it processes the sale.
                raise TransientError(
                    SYSTEM,
                    "InvoicePending",
                    f"sale {sales_order_id} is delivered; Tryton has not made its invoice yet",
                )
            raise BusinessRuleError(
                SYSTEM,
                "NothingToInvoice",
                f"Tryton has nothing to invoice for sale {sales_order_id} "
                f"(shipment state {sale.get('shipment_state')})",
            )
        invoice_id = int(drafts[0]["id"])
        await self._button("account.invoice", invoice_id, "post")
        return await self._invoice_result(invoice_id, order_id)

    async def credit_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        record_id = _record_id(invoice_id, "invoice")
        invoice = await self._read(
            "account.invoice", record_id, ["state", "type", "sales"], what="invoice"
        )
        order_id = ""
        sales = list(invoice.get("sales") or [])
        if sales:
            order_id = str((await self._sale(str(sales[0])))["reference"] or "")
        state = invoice["state"]
        if state in ("draft", "validated"):
            await self._button("account.invoice", record_id, "cancel")
        elif state == "posted":
            await self._wizard(
                "account.invoice.credit",
                "account.invoice",
                [record_id],
                [("credit", {"start": {"with_refund": True, "invoice_date": None}})],
            )
        elif state == "paid":
            raise BusinessRuleError(
                SYSTEM, "InvoicePaid", f"invoice {invoice_id} is paid; refund the payment instead"
            )
        return await self._invoice_result(record_id, order_id)

    # -----------------------------------------------------------------------------------------
    # Change feeds: records by (last_modified_at, id)

    async def _feed(
        self,
        model: str,
        domain: list[Any],
        fields: Sequence[str],
        updated_since: dt.datetime | None,
        cursor: str | None,
        limit: int,
        context: Mapping[str, Any] | None = None,
    ) -> tuple[list[tuple[dict[str, Any], dt.datetime]], str | None]:
        """Records changed at or after `updated_since`, or after the cursor, oldest first.

        Keyed by Tryton's own `last_modified_at` (COALESCE(write_date, create_date), searchable
        and sortable) and the id, so one keyset covers records never written and written ones,
        and records that share a timestamp (one transaction) are neither skipped nor repeated
        across pages. `updated_since` is inclusive, as on the reference ERP; the cursor (the
        last record's time and id) is exclusive. A record written after it was reported moves
        behind the cursor and comes again (at least once). Tryton stamps a transaction's start,
        so a write committed long after it began can land behind a position already read.
        """
        where: list[Any] = list(domain)
        if cursor:
            try:
                data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
                after, last_id = dt.datetime.fromisoformat(data["t"]), int(data["i"])
            except (ValueError, KeyError, TypeError):
                raise InvalidRequestError(SYSTEM, "BadCursor", f"bad cursor {cursor!r}") from None
            where.append(
                [
                    "OR",
                    ("last_modified_at", ">", after),
                    [("last_modified_at", "=", after), ("id", ">", last_id)],
                ]
            )
        elif updated_since is not None:
            where.append(("last_modified_at", ">=", _naive_utc(updated_since)))
        found = await self._search(
            model,
            where,
            [*fields, "last_modified_at", "create_date"],
            limit=limit + 1,  # one more tells whether there is a next page
            order=[("last_modified_at", "ASC"), ("id", "ASC")],
            context=context,
        )
        page = [(r, r["last_modified_at"]) for r in found[:limit]]
        if len(found) <= limit:
            return page, None
        last, when = page[-1]
        data = {"t": when.isoformat(), "i": int(last["id"])}
        return page, base64.urlsafe_b64encode(json.dumps(data).encode()).decode()

    async def order_changes(
        self, updated_since: dt.datetime | None, cursor: str | None, limit: int
    ) -> OrderChangePage:
        await self._environment()
        sales, next_cursor = await self._feed(
            "sale.sale", [], self._SALE_FIELDS, updated_since, cursor, limit
        )
        statuses = await self._sale_statuses([sale for sale, _ in sales])
        items = []
        for (sale, when), status in zip(sales, statuses, strict=True):
            # Tryton sets sale_date when the sale is quoted; a draft has none yet.
            day = sale.get("sale_date") or sale["create_date"].date()
            items.append(
                OrderChange(
                    order_id=str(sale.get("reference") or sale.get("number") or sale["id"]),
                    customer_id=str(sale["party"].get("code") or sale["party"]["id"]),
                    customer_name=str(sale["party"].get("name") or ""),
                    order_date=dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC),
                    status=status,
                    total=Decimal(sale.get("total_amount") or 0),
                    currency=str(sale["currency"]["code"]),
                    updated_at=_utc(when),
                )
            )
        return OrderChangePage(items=items, next_cursor=next_cursor)

    async def customer_changes(
        self, updated_since: dt.datetime | None, cursor: str | None, limit: int
    ) -> CustomerChangePage:
        env = await self._environment()
        # Archived parties too. Not with ("active", "in", [True, False]) in the domain: Tryton
        # adds ("active", "=", True) to every nested list that names no `active` (the cursor's
        # OR clause), which hid archived parties on every page after the first.
        parties, next_cursor = await self._feed(
            "party.party",
            [("id", "!=", env.company_party)],
            ["code", "name", "email", "credit_limit_amount", "addresses"],
            updated_since,
            cursor,
            limit,
            context={"active_test": False},
        )
        # The first address by id: orders add delivery addresses (named after the recipient)
        # to the party without writing the party, so its order in `addresses` may not decide.
        first = {int(p["id"]): min(p["addresses"]) for p, _ in parties if p.get("addresses")}
        names: dict[int, str | None] = {}
        if first:
            for address in await self._search(
                "party.address", [("id", "in", sorted(first.values()))], ["party_name"]
            ):
                names[int(address["id"])] = address.get("party_name")
        items = [
            CustomerChange(
                customer_id=str(p.get("code") or p["id"]),
                name=str(p["name"]),
                email=str(p.get("email") or ""),
                company=names.get(first.get(int(p["id"]), 0)) or None,
                credit_limit=Decimal(p.get("credit_limit_amount") or 0),
                updated_at=_utc(when),
            )
            for p, when in parties
        ]
        return CustomerChangePage(items=items, next_cursor=next_cursor)
