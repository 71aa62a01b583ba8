"""What every page's layout needs from the settings."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def rehearsal(request: HttpRequest) -> dict[str, bool]:
    """A rehearsal portal says so on every page (base.html), to every visitor."""
    return {"tesla_rehearsal": settings.TESLA_REHEARSAL}
