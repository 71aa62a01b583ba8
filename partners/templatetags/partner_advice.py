"""`{% load partner_advice %}`: what the operator should do about a registration.

<td>{{ registration|advice }}</td>
"""

from __future__ import annotations

from django import template

from partners.advice import advice_for
from partners.models import PartnerRegistration

register = template.Library()


@register.filter
def advice(registration: PartnerRegistration) -> str:
    """The advice for the registration's state, in the reader's language."""
    return advice_for(registration)
