"""Emails to users about their links (never with a token in them)."""

from __future__ import annotations

from django.conf import settings

from accounts.models import TeslaLink
from fleetportal.mail import send_mail_in_their_language


def link_needs_relink_email(*, link_id: int) -> bool:
    """Tell the owner, in their language (else English and Chinese), that a link needs
    relinking; False if moot."""
    link = TeslaLink.objects.select_related("user").filter(pk=link_id).first()
    if link is None or not link.is_broken:
        return False
    context = {
        "link": link,
        "dashboard_url": settings.PORTAL_PUBLIC_URL.rstrip("/") + "/dashboard/",
    }
    send_mail_in_their_language("accounts/email/needs_relink", context, [link.user])
    return True
