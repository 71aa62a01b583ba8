from __future__ import annotations

from django import template

from telemetry import explanations, selectors

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
