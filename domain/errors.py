"""How an external system failed, in business terms, so activities can decide on retries.

Connectors raise these and never retry themselves: Temporal owns retries.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """A call to an ERP or CRM failed. `code` is a stable machine name, e.g. `InsufficientStock`."""

    retryable: bool = False

    def __init__(
        self,
        system: str,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


class TransientError(IntegrationError):
    """Try again later: 429, 5xx, timeouts, connection failures."""

    retryable = True


class BusinessRuleError(IntegrationError):
    """The system refused on business grounds (declined payment, no stock); retrying won't help."""


class InvalidRequestError(IntegrationError):
    """The system refused the request as malformed or unauthorised (4xx); a bug or bad data."""


class NotFoundError(InvalidRequestError):
    """The record named does not exist."""


class ConflictError(InvalidRequestError):
    """The request contradicts an earlier one, e.g. an idempotency key reused with another body."""
