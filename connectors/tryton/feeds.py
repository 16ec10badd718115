"""Sales and parties as change feeds for the ERP→CRM sync, by (last_modified_at, id)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from connectors.tryton.records import TrytonRecords
from connectors.tryton.wire import SUPPLIER_CATEGORY, SYSTEM, naive_utc, utc
from domain.erp import CustomerChange, CustomerChangePage, OrderChange, OrderChangePage
from domain.errors import InvalidRequestError


class TrytonFeeds(TrytonRecords):
    """The ERP→CRM sync's change feeds (`order_changes`, `customer_changes`)."""

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
        so a write committed long after it began can land behind a position already read: a
        read `since` starts the settings' `late_commit_window` earlier.
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
            overlap = dt.timedelta(seconds=self._settings.late_commit_window)
            where.append(("last_modified_at", ">=", naive_utc(updated_since - overlap)))
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
                    updated_at=utc(when),
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
            [
                ("id", "!=", env.company_party),
                ("categories", "not where", [("name", "=", SUPPLIER_CATEGORY)]),
            ],
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
                updated_at=utc(when),
            )
            for p, when in parties
        ]
        return CustomerChangePage(items=items, next_cursor=next_cursor)
