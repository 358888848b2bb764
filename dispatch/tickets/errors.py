"""Errors of the ticket layer, each naming the field at fault so a caller can point at it.

The web layer maps them to HTTP status codes: :class:`TicketError` 422,
:class:`ConflictError` and :class:`LegalReviewRequired` 409, :class:`NotFound` 404.
Whatever the error, the operation that raised it stored nothing.
"""

from __future__ import annotations


class TicketError(ValueError):
    """Bad input or a rule refused: ``field`` names what to fix (``"to_state"``, ``"at"``, ...)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class TransitionError(TicketError):
    """The state change is not in the transition table (see :mod:`dispatch.tickets.transitions`)."""


class ConflictError(TicketError):
    """Someone else changed the record first (optimistic concurrency on ``version``)."""


class LegalReviewRequired(TicketError):
    """A major decision was attempted without an approved legal review (法制审核) on record."""


class NotFound(KeyError):
    """No ticket or summons with that id. ``str()`` is the plain message (not KeyError's repr)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = f"{field}: {message}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message
