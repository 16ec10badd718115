"""`ErpPort` and `PurchasingPort` on a real ERP: Tryton 8.2 (set up by `services.tryton`), over
REST and JSON-RPC.

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

Purchasing (`domain.erp.PurchasingPort`, procure-to-pay), with `purchase` (invoice method
"fulfillment", which Tryton 7.x called "shipment"), `account_invoice_stock` and
`account_payment_clearing`:
- get_supplier: the party by code; blocked when archived or in the category "Blocked supplier",
  new when in "New supplier" (Tryton has neither flag); currency the party's supplier currency,
  else the company's.
- create_purchase_order: a purchase described `Continuum requisition <id>` (how a repeat finds
  it), one line per requisition line with `sequence` = its number and the tax of its rate, the
  requester and cost centre in the comment; quoted and confirmed, Tryton processes it at once
  (incoming moves wait for the goods). Status sent; a refused one is deleted.
- confirm_purchase_order / remind_supplier: Tryton has no supplier acknowledgement and sends
  nothing to suppliers: the supplier's reference goes into the purchase's `reference` and the
  confirmation, like each reminder, into its comment as a line ending `[key <key>]`, once per
  key. The comment's confirmation line makes the status confirmed.
- cancel_purchase_order: a draft, quotation or confirmed purchase is cancelled; a processed one
  has its open moves, shipments and draft invoices cancelled and set aside with Tryton's
  exception wizards (ignore), then a cancellation line in its comment; refused while goods are
  in (return them first) or an invoice is posted (cancel it first).
- record_goods_receipt: a supplier shipment (reference = the receipt number, how a repeat finds
  it) holding the purchase's waiting moves set to the quantities received (Tryton makes a move
  for any rest), received and done; Tryton then drafts the supplier invoice for the received
  moves. A receipt of kind return is a supplier return shipment (moves naming the purchase
  lines, so Tryton expects a credit). More than ordered: Tryton's warning is acknowledged.
- return_goods: a supplier return shipment `return of <receipt>` for what the receipt brought
  in, done (a receipt not yet received is cancelled instead).
- post_supplier_invoice: Tryton's draft for the purchase (several are merged first: deleted
  together, Tryton drafts the net once) becomes the supplier's document: its reference, invoice
  date, due date (payment term date), quantities, units and prices, lines linked to the
  purchase lines, a manual tax line for any difference to the printed tax; then posted. Without
  a draft, a new supplier invoice. A credit note has negative lines; one that takes back all
  that is open on the invoice it credits is reconciled with it at once. Refused (ConflictError)
  when the supplier already has a document with that reference (case, spaces and dashes
  ignored, any state): Tryton itself only warns on an identical reference within 60 days.
- cancel_supplier_invoice: cancelled (a posted supplier invoice with a reversing move); a paid
  one is refused.
- pay_supplier: a payable payment of the due amount against the invoice's line to pay, its
  reference the payment's key (how a repeat finds it), through the "Supplier transfers" journal
  (submitted, approved, processed, succeeded); the journal's clearing reconciles a fully paid
  invoice (Tryton marks it paid, and the purchase done). Credit notes netted in are reconciled
  with it. More than is left to pay is refused.
- purchase_changes: purchases as a feed, like sales; received (at order prices, returns
  subtract), invoiced (posted, credit notes subtract) and paid from Tryton's moves, invoice
  lines and payments; status sent, confirmed, cancelled, or completed once Tryton's purchase
  is done.

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

from connectors.tryton.client import TrytonErpClient
from connectors.tryton.transport import ErpSettings, TrytonSettings
from connectors.tryton.wire import DECLINED_TEST_CARD, SYSTEM

__all__ = ["DECLINED_TEST_CARD", "SYSTEM", "ErpSettings", "TrytonErpClient", "TrytonSettings"]
