"""Mail to staff and users in both of the portal's languages (never with a token in it)."""

from __future__ import annotations

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
