"""`{% load pairing %}`: the pairing link and its QR code for a vehicle (§3.4).

{% pairing_link vehicle.region vehicle.vin as link %}
<a href="{{ link }}">{{ link }}</a> {% pairing_qr link %}
"""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from partners import pairing

register = template.Library()


@register.simple_tag
def pairing_link(region: str, vin: str | None = None) -> str:
    """The link, or "" for a region or VIN that cannot have one: a page never fails on it."""
    try:
        return pairing.pairing_link(region=region, vin=vin or None)
    except (KeyError, ValueError):
        return ""


@register.simple_tag
def pairing_qr(link: str, scale: int = 4) -> SafeString:
    return pairing.qr_svg(link, scale=scale) if link else SafeString("")
