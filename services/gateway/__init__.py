"""The gateway: how other systems and people reach running workflows.

Run: `python -m services.gateway --host H --port P [--events FILE]` (default: the shipped
continuum/defaults/webhooks.toml),
with Temporal's TEMPORAL_* variables (see continuum.client) and these secrets in the
environment: WEBHOOK_SECRET_<SOURCE> for every webhook source, GATEWAY_SESSION_SECRET for the
inbox's session cookie; INBOX_USERS_FILE names the inbox's password hashes.

Webhooks, `POST /events/{source}`: a JSON body `{"id", "type", "data"}` signed with the source's
secret in `X-Continuum-Signature: t=<unix>,v1=<hex hmac_sha256(secret, "<t>.<body>")>`. The
mapping of each event to a signal, update or signal-with-start is continuum/defaults/webhooks.toml.

Answers (code in the error body):
- 202: a signal or signal-with-start Temporal accepted; 200: an update the workflow took
  (`result` is its answer);
- 401 MissingSignature, MalformedSignature, BadSignature, StaleTimestamp: not authentic, or
  signed outside the 300 s replay window;
- 404 UnknownSource, UnknownWorkflow: no such source; no workflow for the event's order;
- 409 DuplicateEvent (the event id was already accepted), EventInFlight (being processed),
  UpdateRefused (the workflow's validator said no: its message), WorkflowClosed (finished);
- 413 PayloadTooLarge (over 1 MiB); 422 MalformedEvent (not JSON, a missing or wrong field,
  named), UnknownEventType (a type the source does not send);
- 503 TemporalUnavailable: Temporal did not take it, nothing was recorded; retry (Retry-After).

Errors are `{"error": {"code", "message"}}`. Health: `GET /healthz`, `GET /readyz` (database
and Temporal). The approval inbox is the HTML under `/inbox`.
"""
