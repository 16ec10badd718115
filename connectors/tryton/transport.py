"""A session with one Tryton database: REST (application key) for records and workflow buttons,
JSON-RPC (a login session, renewed once on 401) for wizards. Answers become `domain.errors` in
`connectors.tryton.errors`; timeouts and connection failures in `connectors.http_errors`."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

import httpx

from connectors.http_errors import transport_errors
from connectors.tryton.errors import Unauthorized, login_error, rest_error, rpc_error
from connectors.tryton.wire import SYSTEM, b64, dumps, loads, log
from domain.errors import IntegrationError, InvalidRequestError, NotFoundError


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
    # Supplier payments (procure-to-pay): a manual journal cleared through a cash account, so a
    # payment that succeeds reconciles the supplier invoice (see `services.tryton`).
    supplier_payment_journal: str = "Supplier transfers"
    # Acknowledge Tryton's credit-limit warning when confirming a sale, as a user clicking
    # "Yes" would: Continuum's approval gate has already decided on the customer's credit.
    accept_credit_warnings: bool = True
    timeout: float = 30.0
    # Tryton stamps a write with its transaction's start, so a transaction that commits late
    # lands behind a position the sync has already read: a feed read `since` a watermark starts
    # this many seconds earlier (the records read again are upserted again, harmlessly).
    late_commit_window: float = 120.0


@dataclass(frozen=True)
class Environment:
    """What every call needs: the company, its currency, the warehouse and the payment journal."""

    company: int
    company_party: int
    currency: int
    currency_code: str
    warehouse: int
    warehouse_storage: int
    customer_location: int
    return_location: int
    payment_journal: int


class TrytonTransport:
    """A session with one Tryton database: REST and JSON-RPC calls, errors as `domain.errors`."""

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
        self._env: Environment | None = None

    @classmethod
    def from_settings(cls, settings: ErpSettings) -> Self:
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
            with contextlib.suppress(IntegrationError, Unauthorized, httpx.HTTPError):
                await self._rpc_once("common.db.logout", [])
            self._session = None
        await self._http.aclose()

    # -----------------------------------------------------------------------------------------
    # Transport: REST

    async def _send(self, request: httpx.Request) -> httpx.Response:
        with transport_errors(SYSTEM):
            response = await self._http.send(request)
        return response

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
            headers["X-Tryton-Context"] = b64(ctx)
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = dumps(body)
        request = self._http.build_request(
            method, f"/rest/model/{path}", params=list(params), headers=headers, content=content
        )
        response = await self._send(request)
        if response.status_code == 204:
            return None
        if response.status_code < 400:
            return loads(response.content) if response.content else None
        raise rest_error(method, path, response)

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
        params = [("d", b64(domain))] + [("f", f) for f in fields]
        if limit is not None:
            params.append(("s", str(limit)))
        if order:
            params.append(("o", b64([list(o) for o in order])))
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
            content=dumps({"id": 0, "method": "common.db.login", "params": params}),
            headers={"Content-Type": "application/json"},
        )
        response = await self._send(request)
        if response.status_code >= 400:
            raise login_error(self._settings.login, response)
        payload = loads(response.content)
        if payload.get("error"):
            raise rpc_error("common.db.login", payload["error"])
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
            content=dumps({"id": self._rpc_id, "method": method, "params": params}),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Session {self._session}",
            },
        )
        response = await self._send(request)
        if response.status_code == 401:
            self._session = None
            raise Unauthorized(method)
        if response.status_code >= 400:
            raise rest_error("POST", f"rpc {method}", response)
        payload = loads(response.content)
        if payload.get("error"):
            raise rpc_error(method, payload["error"])
        return payload.get("result")

    async def _rpc(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; on 401 logs in again once and retries the call once."""
        try:
            return await self._rpc_once(method, list(params))
        except Unauthorized:
            log.info("Tryton session refused on %s; logging in again", method)
        try:
            return await self._rpc_once(method, list(params))
        except Unauthorized:
            raise InvalidRequestError(
                SYSTEM, "Unauthorized", f"Tryton refused a fresh session for {method}", status=401
            ) from None

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
