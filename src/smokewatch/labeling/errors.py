"""The one error type of the service layers: a refusal with its HTTP status.

Tokens, batches, accounts and routes raise subclasses (so callers can catch narrowly); the app
answers every one of them in RISE's shape, ``{"message": ...}``, with its status.
"""

from __future__ import annotations

__all__ = ["ServiceError"]


class ServiceError(Exception):
    """A request the service refuses; ``status`` is the HTTP status to answer with."""

    default_status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = self.default_status if status is None else status
