"""{{ run.error|sync_error }}: a sync run's stored error in the reader's words."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from accounts.reasons import failure_text
from vehicles.services import SYNC_LOST, SYNC_NOT_QUEUED

register = template.Library()


@register.filter
def sync_error(stored: str) -> str:
    if stored.startswith(SYNC_NOT_QUEUED):
        return _("The sync could not be queued (%(error)s).") % {
            "error": stored.removeprefix(SYNC_NOT_QUEUED)
        }
    if stored == SYNC_LOST:
        return _("No worker finished the sync.")
    return failure_text(stored)
