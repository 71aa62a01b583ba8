from __future__ import annotations

from django import template

from accounts.reasons import failure_text
from telemetry import explanations, live, selectors

register = template.Library()


@register.inclusion_tag("telemetry/_vehicle_state.html")
def telemetry_state(vehicle, viewer) -> dict:
    """The read-only telemetry section of a vehicle page; the page already scoped the car."""
    state = selectors.vehicle_state(vehicle=vehicle, viewer=viewer)
    deployment = state["deployment"]
    return {
        "vehicle": vehicle,
        "state": state,
        "explanation": explanations.explain_error(deployment.error) if deployment else "",
        "link": True,
    }


@register.filter
def skip_reason(reason: str) -> dict[str, str]:
    """Tesla's skip reason code → {"label", "fix"} in plain, translated words (§5.4)."""
    return explanations.explain_skip(reason)


@register.filter
def deployment_error(stored: str) -> str:
    """A deployment's stored error in the reader's words where it is the portal's own (a link
    that needs a relink); Tesla's own text as stored."""
    return failure_text(stored)


@register.filter
def audit_outcome(entry) -> str:
    """An audit entry's outcome worded in the reader's language."""
    return selectors.audit_outcome(entry)


@register.inclusion_tag("telemetry/_live_link.html")
def telemetry_live_link(vehicle, access) -> dict:
    """The link from the owner's vehicle page to its live data, with the battery and when the
    car was last heard from (the page scoped the car; `access` is the viewer's own)."""
    return {"vehicle": vehicle, "summary": live.vehicle_summary(vehicle=vehicle, access=access)}
