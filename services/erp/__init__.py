"""The reference ERP over HTTP: customers, stock, sales orders, payments, shipments and
invoices (order-to-cash); suppliers, purchase orders, goods receipts, supplier invoices and
supplier payments (procure-to-pay).

Run: `ERP_API_TOKEN=... python -m services.erp --host H --port P --db PATH --seed {none,demo}
[--faults JSON]`. OpenAPI at `/openapi.json`, docs at `/docs`.

Auth: every `/api/...` request needs `Authorization: Bearer $ERP_API_TOKEN`; `/admin/...`
needs `Bearer $ERP_ADMIN_TOKEN`. Every POST under `/api` needs an `Idempotency-Key` header:
the same key with the same request replays the first answer (header `Idempotent-Replayed:
true`) without doing the write again; with another request it is refused (409).

Errors: `{"error": {"code", "message"}}`; 400 ValidationError, 401 Unauthorized,
404 NotFound, 409 IdempotencyConflict | SalesOrderExists | PurchaseOrderExists |
ReceiptExists | DuplicateInvoice | LineAlreadyPaid | Overpayment, 422 InsufficientStock |
PaymentDeclined | CustomerBlocked | SupplierBlocked | ReturnExceedsReceipts | InvalidState.
Money is a decimal string.

| method and path | ErpPort method | answer |
| --- | --- | --- |
| GET  /api/customers/{customer_id}/credit | get_credit | CreditStatus |
| GET  /api/stock?sku=SKU-001&sku=SKU-002 | check_stock | {items: [{sku, available, ...}]} |
| GET  /api/products/{sku} | | product with stock levels |
| POST /api/reservations {order_id, lines: [{sku, quantity}]} | reserve_stock | 201 reservation |
| POST /api/reservations/{reservation_id}/release | release_stock | reservation |
| GET  /api/reservations?order_id= | | {items} |
| POST /api/sales-orders (body: domain Order) | create_sales_order | 201 sales order |
| POST /api/sales-orders/{sales_order_id}/cancel | cancel_sales_order | sales order |
| GET  /api/sales-orders?order_id= | | {items} |
| POST /api/payments {order_id, amount, currency, method, reference} | capture_payment | 201 |
| POST /api/payments/{payment_id}/refund | refund_payment | payment |
| GET  /api/payments?order_id= | | {items} |
| POST /api/shipments {order_id, sales_order_id, address, lines} | create_shipment | 201 shipment |
| POST /api/shipments/{shipment_id}/deliver {delivered_at} | confirm_delivery | shipment |
| POST /api/shipments/{shipment_id}/cancel | cancel_shipment | shipment |
| GET  /api/shipments?order_id= | | {items} |
| POST /api/invoices {order_id, sales_order_id} | create_invoice | 201 invoice |
| POST /api/invoices/{invoice_id}/credit | credit_invoice | invoice |
| GET  /api/invoices?order_id= | | {items} |
| GET  /api/changes/orders?updated_since=&cursor=&limit= | order_changes | OrderChangePage |
| GET  /api/changes/customers?updated_since=&cursor=&limit= | customer_changes | …ChangePage |
| GET  /api/reports/day?start=&end= | | ErpDayFigures (the daily report) |
| POST /admin/generate {customers, orders, suppliers, seed} | | counts (admin token) |
| GET/PUT /admin/faults | | fault injection (services.faults) |
| GET  /healthz, /readyz | | {"status": "ok"} (no auth; readyz checks the database) |

Purchasing (`purchase_api`; lists carry `count`, so "exactly one" is one look):

| method and path | PurchasingPort method | answer |
| --- | --- | --- |
| GET  /api/suppliers/{supplier_id} | get_supplier | Supplier |
| GET  /api/suppliers | | {items, count} |
| POST /api/purchase-orders (body: domain Requisition) | create_purchase_order | 201 order |
| POST /api/purchase-orders/{id}/confirm {supplier_reference} | confirm_purchase_order | order |
| POST /api/purchase-orders/{id}/remind | remind_supplier | order (`reminders` counted) |
| POST /api/purchase-orders/{id}/cancel | cancel_purchase_order | order |
| GET  /api/purchase-orders?requisition_id= | | {items, count} |
| GET  /api/purchase-orders/{id} | | order with received, invoiced, paid |
| POST /api/goods-receipts (GoodsReceipt + purchase_order_id) | record_goods_receipt | 201 |
| POST /api/goods-receipts/{erp_receipt_id}/return | return_goods | receipt |
| GET  /api/goods-receipts?requisition_id= | | {items, count} |
| POST /api/supplier-invoices (SupplierInvoice + purchase_order_id) | post_supplier_invoice | 201 |
| POST /api/supplier-invoices/{erp_invoice_id}/cancel | cancel_supplier_invoice | invoice |
| GET  /api/supplier-invoices?requisition_id= | | {items, count} |
| POST /api/supplier-payments (PaymentDue + purchase_order_id, supplier_id) | pay_supplier | 201 |
| GET  /api/supplier-payments?requisition_id= | | {items, count} |
| GET  /api/requisitions/{requisition_id}/documents | | counts of each document |
| GET  /api/changes/purchases?updated_since=&cursor=&limit= | purchase_changes | …ChangePage |

Change feeds: `limit` defaults to 500, at most 1000; pass `next_cursor` back for the next
page; it is null when the page reached the end. State machines and rules live in the modules
named after them: `stock`, `sales`, `payments`, `shipping`, `billing`, `purchasing` (suppliers
and purchase orders), `receiving`, `supplier_invoices`, `supplier_payments`, `feeds`.
"""
