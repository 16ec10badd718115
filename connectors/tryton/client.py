"""`TrytonErpClient`: the ERP port on Tryton 8.2, composed of one part per concern."""

from __future__ import annotations

from connectors.tryton.feeds import TrytonFeeds
from connectors.tryton.invoices import TrytonInvoices
from connectors.tryton.payments import TrytonPayments
from connectors.tryton.sales import TrytonSales
from connectors.tryton.shipments import TrytonShipments
from connectors.tryton.stock import TrytonStock


class TrytonErpClient(
    TrytonStock, TrytonSales, TrytonPayments, TrytonShipments, TrytonInvoices, TrytonFeeds
):
    """Implements `domain.erp.ErpPort` on Tryton 8.2; raises `domain.errors`, never retries."""
