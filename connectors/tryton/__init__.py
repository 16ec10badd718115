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

from connectors.tryton.client import TrytonErpClient
from connectors.tryton.transport import ErpSettings, TrytonSettings
from connectors.tryton.wire import DECLINED_TEST_CARD, SYSTEM

__all__ = ["DECLINED_TEST_CARD", "SYSTEM", "ErpSettings", "TrytonErpClient", "TrytonSettings"]
