"""The reference ERP: customers, stock, sales orders, payments, shipments and invoices over HTTP.

Run: `ERP_API_TOKEN=... python -m services.erp --host H --port P --db PATH --seed {none,demo}
[--faults JSON]`. OpenAPI at `/openapi.json`, docs at `/docs`.

Auth: every `/api/...` request needs `Authorization: Bearer $ERP_API_TOKEN`; `/admin/...`
needs `Bearer $ERP_ADMIN_TOKEN`. Every POST under `/api` needs an `Idempotency-Key` header:
the same key with the same request replays the first answer (header `Idempotent-Replayed:
true`) without doing the write again; with another request it is refused (409).

Errors: `{"error": {"code", "message"}}`; 400 ValidationError, 401 Unauthorized,
404 NotFound, 409 IdempotencyConflict | SalesOrderExists, 422 InsufficientStock |
PaymentDeclined | CustomerBlocked | InvalidState. Money is a decimal string.

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
| POST /admin/generate {customers, orders, seed} | | counts (admin token) |
| GET/PUT /admin/faults | | fault injection (services.faults) |
| GET  /healthz, /readyz | | {"status": "ok"} (no auth; readyz checks the database) |

Change feeds: `limit` defaults to 500, at most 1000; pass `next_cursor` back for the next
page; it is null when the page reached the end. State machines and rules live in the modules
named after them: `stock`, `sales`, `payments`, `shipping`, `billing`, `feeds`.
"""
