"""Emails to users about their links (never with a token in them)."""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

from accounts.models import TeslaLink, User


def send_bilingual_mail(template: str, context: dict, recipients: list[str]) -> None:
    """Mail `template`.txt in English then Chinese, with `template`_subject.txt in English."""
    parts = []
    for language in ("en", "zh-hans"):
        with translation.override(language):
            parts.append(render_to_string(f"{template}.txt", context).strip())
    with translation.override("en"):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
    send_mail(subject, "\n\n----\n\n".join(parts), settings.DEFAULT_FROM_EMAIL, recipients)


def send_mail_in_their_language(template: str, context: dict, users: list[User]) -> None:
    """Mail `template` to each user in the language saved on their profile, one mail per
    language; users who never chose one get the bilingual mail (English then Chinese)."""
    offered = dict(settings.LANGUAGES)
    by_language: dict[str, list[str]] = defaultdict(list)
    for user in users:
        by_language[user.language if user.language in offered else ""].append(user.email)
    for language, recipients in by_language.items():
        if not language:
            send_bilingual_mail(template, context, recipients)
            continue
        with translation.override(language):
            body = render_to_string(f"{template}.txt", context).strip()
            subject = render_to_string(f"{template}_subject.txt", context).strip()
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)


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
