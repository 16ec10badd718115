"""The reference CRM's HTTP API, in the shape of HubSpot's CRM v3 objects and v4 associations.

A connector written against it talks to HubSpot unchanged: same paths, bodies, status codes,
error categories. Handlers are thin; the rules live in `store`, `properties` and `search`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.crm.access import ApiAccessMiddleware, RateLimit, SlidingWindowLimiter
from services.crm.associations import DEFAULT_TYPES, HUBSPOT_DEFINED, TYPES, v3_type_name
from services.crm.errors import CrmApiError, validation_error
from services.crm.properties import SCHEMAS, ObjectType, resolve_object_type
from services.crm.schemas import (
    BatchReadInput,
    BatchUpsertInput,
    CreateInput,
    SearchInput,
    UpdateInput,
)
from services.crm.store import CrmStore, now
from services.faults import FaultConfig, FaultInjector, install_faults

MAX_LIST_LIMIT = 100
MAX_ASSOCIATION_LIMIT = 500

_HTTP_CATEGORIES = {
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    405: "VALIDATION_ERROR",
}


def create_app(
    store: CrmStore,
    *,
    api_token: str,
    admin_token: str | None = None,
    faults: FaultConfig | None = None,
    rate_limit: RateLimit | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="Continuum reference CRM (HubSpot CRM v3 shape)", lifespan=lifespan)
    _install_error_handlers(app)
    limiter = SlidingWindowLimiter(rate_limit) if rate_limit else None
    app.add_middleware(ApiAccessMiddleware, token=api_token, limiter=limiter)
    # Added last, so outermost: a faulted request fails before auth, like a failing gateway.
    install_faults(app, FaultInjector(faults), admin_token)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        try:
            store.ping()
        except Exception as err:  # any database failure means "not ready"
            return JSONResponse({"status": "unavailable", "reason": str(err)}, status_code=503)
        return JSONResponse({"status": "ready"})

    # -- properties ----------------------------------------------------------------------

    @app.get("/crm/v3/properties/{object_type}")
    async def list_properties(object_type: str) -> dict[str, Any]:
        schema = SCHEMAS[_object_type(object_type)]
        return {"results": [p.describe() for p in schema.properties.values()]}

    @app.get("/crm/v3/properties/{object_type}/{name}")
    async def get_property(object_type: str, name: str) -> dict[str, Any]:
        schema = SCHEMAS[_object_type(object_type)]
        prop = schema.properties.get(name)
        if prop is None:
            raise CrmApiError(404, "OBJECT_NOT_FOUND", f'Property "{name}" does not exist')
        return prop.describe()

    # -- objects -------------------------------------------------------------------------

    @app.post("/crm/v3/objects/{object_type}", status_code=201)
    async def create_object(object_type: str, body: CreateInput) -> dict[str, Any]:
        record = store.create(_object_type(object_type), body.properties, body.associations)
        return record.render()

    @app.get("/crm/v3/objects/{object_type}")
    async def list_objects(
        request: Request,
        object_type: str,
        limit: int = 10,
        after: str | None = None,
        archived: bool = False,
    ) -> dict[str, Any]:
        kind = _object_type(object_type)
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise validation_error(f"limit must be between 1 and {MAX_LIST_LIMIT}", where="limit")
        names = _names(request)
        page, next_after = store.list_page(kind, after=after, limit=limit, archived=archived)
        body: dict[str, Any] = {"results": [r.render(names) for r in page]}
        if next_after is not None:
            query = {"after": next_after, "limit": limit}
            if names:
                query["properties"] = ",".join(names)
            link = f"{request.base_url}crm/v3/objects/{kind}?{urlencode(query)}"
            body["paging"] = {"next": {"after": next_after, "link": link}}
        return body

    @app.post("/crm/v3/objects/{object_type}/batch/upsert")
    async def batch_upsert(object_type: str, body: BatchUpsertInput) -> dict[str, Any]:
        started = now()
        results = store.batch_upsert(_object_type(object_type), body.inputs)
        return {
            "status": "COMPLETE",
            "results": [{**record.render(), "new": created} for record, created in results],
            "startedAt": started,
            "completedAt": now(),
        }

    @app.post("/crm/v3/objects/{object_type}/batch/read")
    async def batch_read(
        object_type: str, body: BatchReadInput, archived: bool = False
    ) -> JSONResponse:
        kind = _object_type(object_type)
        started = now()
        found, missing = store.batch_read(
            kind, [i.id for i in body.inputs], body.idProperty, archived=archived
        )
        result: dict[str, Any] = {
            "status": "COMPLETE",
            "results": [r.render(body.properties) for r in found],
            "startedAt": started,
            "completedAt": now(),
        }
        if not missing:
            return JSONResponse(result)
        # HubSpot answers a partly found batch with 207 and one error listing the missing ids.
        singular = SCHEMAS[kind].singular.upper()
        result["numErrors"] = 1
        result["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {singular} objects, they may be deleted or"
                " not exist. Check that ids are valid.",
                "context": {"ids": missing},
            }
        ]
        return JSONResponse(result, status_code=207)

    @app.post("/crm/v3/objects/{object_type}/search")
    async def search(object_type: str, body: SearchInput) -> dict[str, Any]:
        total, page, next_after = store.search(_object_type(object_type), body)
        result: dict[str, Any] = {
            "total": total,
            "results": [r.render(body.properties) for r in page],
        }
        if next_after is not None:
            result["paging"] = {"next": {"after": next_after}}
        return result

    # `:path`, because the server decodes %2F before routing and ids from business keys
    # (idProperty=order_id) may hold a slash.
    @app.get("/crm/v3/objects/{object_type}/{object_id:path}")
    async def get_object(
        request: Request,
        object_type: str,
        object_id: str,
        id_property: str | None = Query(None, alias="idProperty"),
        archived: bool = False,
    ) -> dict[str, Any]:
        kind = _object_type(object_type)
        record = store.get(kind, object_id, id_property, archived=archived)
        body = record.render(_names(request))
        wanted = [t for t in _csv(request, "associations") if resolve_object_type(t)]
        if wanted:
            body["associations"] = _v3_associations(store, kind, str(record.id), wanted)
        return body

    @app.patch("/crm/v3/objects/{object_type}/{object_id:path}")
    async def update_object(
        object_type: str,
        object_id: str,
        body: UpdateInput,
        id_property: str | None = Query(None, alias="idProperty"),
    ) -> dict[str, Any]:
        record = store.update(_object_type(object_type), object_id, body.properties, id_property)
        return record.render()

    @app.delete("/crm/v3/objects/{object_type}/{object_id:path}", status_code=204)
    async def archive_object(object_type: str, object_id: str) -> Response:
        store.archive(_object_type(object_type), object_id)
        return Response(status_code=204)

    # -- associations (v4) ---------------------------------------------------------------

    @app.put("/crm/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}")
    async def associate_default(
        from_type: str, from_id: str, to_type: str, to_id: str
    ) -> dict[str, Any]:
        started = now()
        links = store.associate_default(
            _object_type(from_type), from_id, _object_type(to_type), to_id
        )
        return {
            "status": "COMPLETE",
            "results": [link.render() for link in links],
            "startedAt": started,
            "completedAt": now(),
        }

    @app.get("/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}")
    async def list_associations(
        from_type: str,
        from_id: str,
        to_type: str,
        limit: int = MAX_ASSOCIATION_LIMIT,
        after: str | None = None,
    ) -> dict[str, Any]:
        if not 1 <= limit <= MAX_ASSOCIATION_LIMIT:
            raise validation_error(
                f"limit must be between 1 and {MAX_ASSOCIATION_LIMIT}", where="limit"
            )
        page, next_after = store.associations(
            _object_type(from_type), from_id, _object_type(to_type), after=after, limit=limit
        )
        body: dict[str, Any] = {
            "results": [
                {
                    "toObjectId": to_id,
                    "associationTypes": [
                        {"category": HUBSPOT_DEFINED, "typeId": t.type_id, "label": t.label}
                        for t in kinds
                    ],
                }
                for to_id, kinds in page
            ]
        }
        if next_after is not None:
            body["paging"] = {"next": {"after": next_after}}
        return body

    @app.delete(
        "/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}/{to_id}", status_code=204
    )
    async def remove_associations(
        from_type: str, from_id: str, to_type: str, to_id: str
    ) -> Response:
        store.remove_associations(_object_type(from_type), from_id, _object_type(to_type), to_id)
        return Response(status_code=204)

    return app


def _object_type(raw: str) -> ObjectType:
    kind = resolve_object_type(raw)
    if kind is None:
        raise CrmApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {raw}")
    return kind


def _csv(request: Request, name: str) -> list[str]:
    """HubSpot takes list parameters comma-separated, repeated, or both."""
    values = request.query_params.getlist(name)
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _names(request: Request) -> list[str]:
    return _csv(request, "properties")


def _v3_associations(
    store: CrmStore, kind: ObjectType, object_id: str, wanted: list[str]
) -> dict[str, Any]:
    """The v3 `associations` block of a record read: {contacts: {results: [{id, type}]}}."""
    block: dict[str, Any] = {}
    for name in wanted:
        to_type = resolve_object_type(name)
        assert to_type is not None
        page, _ = store.associations(kind, object_id, to_type, limit=MAX_ASSOCIATION_LIMIT)
        has_primary = any(
            t.label is not None and (t.from_type, t.to_type) == (kind, to_type)
            for t in TYPES.values()
        )
        results = []
        for to_id, kinds in page:
            for t in kinds:
                base = v3_type_name(kind, to_type)
                name_suffix = "_unlabeled" if t.label is None and has_primary else ""
                results.append({"id": str(to_id), "type": base + name_suffix})
        if results and (kind, to_type) in DEFAULT_TYPES:
            block[to_type.value] = {"results": results}
    return block


def _install_error_handlers(app: FastAPI) -> None:
    async def crm_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, CrmApiError)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    async def invalid_request(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = [
            {
                "message": str(e.get("msg", "invalid")),
                "code": "INVALID_INPUT",
                "in": ".".join(str(p) for p in e.get("loc", ())),
            }
            for e in exc.errors()
        ]
        message = "Invalid input: " + "; ".join(f"{d['in']}: {d['message']}" for d in details)
        error = CrmApiError(400, "VALIDATION_ERROR", message, errors=details)
        return JSONResponse(error.body(), status_code=400)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        category = _HTTP_CATEGORIES.get(exc.status_code, "VALIDATION_ERROR")
        error = CrmApiError(exc.status_code, category, str(exc.detail))
        return JSONResponse(error.body(), status_code=exc.status_code, headers=exc.headers)

    async def internal_error(_: Request, exc: Exception) -> Response:
        error = CrmApiError(500, "INTERNAL_ERROR", f"internal error: {type(exc).__name__}")
        return JSONResponse(error.body(), status_code=500)

    app.add_exception_handler(CrmApiError, crm_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
