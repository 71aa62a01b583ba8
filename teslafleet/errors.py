"""The base of every error the Tesla library raises: permanent or transient, nothing else.

Callers decide retry policy from one attribute (`transient`) or one class (`TransientError`,
usable in Celery's `autoretry_for`). Messages carry Tesla's error code and description,
never a token, a secret or a request body.
"""

from __future__ import annotations

__all__ = ["TeslaError", "TransientError"]


class TeslaError(Exception):
    """A Tesla call failed; `transient` says whether the same call may succeed later."""

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str = "",
        description: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.description = description

    @property
    def permanent(self) -> bool:
        return not self.transient


class TransientError(TeslaError):
    """Marker base: retrying the same call later (with backoff) may succeed."""

    transient = True
