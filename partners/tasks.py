"""Celery tasks for partner onboarding: tiny, call one service."""

from __future__ import annotations

from celery import shared_task

from partners import services


@shared_task
def partner_key_hosting_watch() -> str:
    """Beat: is the public key still served as Tesla fetches it? Staff are emailed once per
    incident."""
    return services.partner_key_hosting_watch()
