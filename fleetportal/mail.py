"""Mail to staff and users in their language, or in both of the portal's (never with a token
in it)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation


def send_bilingual_mail(template: str, context: dict, recipients: list[str]) -> None:
    """Mail `template`.txt in English then Chinese, with `template`_subject.txt in English."""
    parts = []
    for language in ("en", "zh-hans"):
        with translation.override(language):
            parts.append(render_to_string(f"{template}.txt", context).strip())
    with translation.override("en"):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
    send_mail(subject, "\n\n----\n\n".join(parts), settings.DEFAULT_FROM_EMAIL, recipients)


class Recipient(Protocol):
    email: str
    language: str  # a code of settings.LANGUAGES, or "" (never chosen)


def send_mail_in_their_language(template: str, context: dict, users: Iterable[Recipient]) -> None:
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
