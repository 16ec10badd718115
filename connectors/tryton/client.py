"""`TrytonErpClient`: the ERP port and the purchasing port on Tryton 8.2, composed of one part per
concern."""

from __future__ import annotations

from connectors.tryton.feeds import TrytonFeeds
from connectors.tryton.invoices import TrytonInvoices
from connectors.tryton.payments import TrytonPayments
from connectors.tryton.purchase_feed import TrytonPurchaseFeed
from connectors.tryton.purchases import TrytonPurchases
from connectors.tryton.receipts import TrytonReceipts
from connectors.tryton.sales import TrytonSales
from connectors.tryton.shipments import TrytonShipments
from connectors.tryton.stock import TrytonStock
from connectors.tryton.supplier_invoices import TrytonSupplierInvoices
from connectors.tryton.supplier_payments import TrytonSupplierPayments


class TrytonErpClient(
    # Purchasing first: its payments and feed parts build on the sales side's.
    TrytonPurchases,
    TrytonReceipts,
    TrytonSupplierInvoices,
    TrytonSupplierPayments,
    TrytonPurchaseFeed,
    TrytonStock,
    TrytonSales,
    TrytonPayments,
    TrytonShipments,
    TrytonInvoices,
    TrytonFeeds,
):
    """Implements `domain.erp.ErpPort` and `domain.erp.PurchasingPort` on Tryton 8.2; raises
    `domain.errors`, never retries."""
