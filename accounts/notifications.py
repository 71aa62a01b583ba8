"""Emails to users about their links (never with a token in them)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

from accounts.models import TeslaLink


def send_bilingual_mail(template: str, context: dict, recipients: list[str]) -> None:
    """Mail `template`.txt in English then Chinese, with `template`_subject.txt in English."""
    parts = []
    for language in ("en", "zh-hans"):
        with translation.override(language):
            parts.append(render_to_string(f"{template}.txt", context).strip())
    with translation.override("en"):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
    send_mail(subject, "\n\n----\n\n".join(parts), settings.DEFAULT_FROM_EMAIL, recipients)


def link_needs_relink_email(*, link_id: int) -> bool:
    """Tell the owner, in English and Chinese, that a link needs relinking; False if moot."""
    link = TeslaLink.objects.select_related("user").filter(pk=link_id).first()
    if link is None or not link.is_broken:
        return False
    context = {
        "link": link,
        "dashboard_url": settings.PORTAL_PUBLIC_URL.rstrip("/") + "/dashboard/",
    }
    send_bilingual_mail("accounts/email/needs_relink", context, [link.user.email])
    return True
