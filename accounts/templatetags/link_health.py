"""{{ link.health_reason|health_reason }}: a link's stored reason in the reader's words."""

from __future__ import annotations

from django import template

from accounts.reasons import reason_text

register = template.Library()


@register.filter
def health_reason(stored: str) -> str:
    return reason_text(stored) if stored else ""
