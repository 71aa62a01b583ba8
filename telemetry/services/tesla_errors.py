"""The errors cars reported about their config, read through Tesla (a car's own list
through a link; the fleet's list with the partner token), each with its explanation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _

from accounts.models import TeslaLink, User
from accounts.services import LinkBroken, link_fleet_call
from partners import selectors as partner_selectors
from partners.services import PartnerSetupError, partner_telemetry_errors
from telemetry import explanations
from telemetry.models import (
    TelemetryAssignment,
    TelemetryAuditEntry,
)
from teslafleet.errors import TeslaError
from teslafleet.fleet import TelemetryError
from vehicles.models import Vehicle, VehicleAccess

Action = TelemetryAuditEntry.Action


def _decorate(errors: Iterable[TelemetryError]) -> list[dict[str, Any]]:
    return [
        {
            "vin": e.vin,
            "created_at": e.created_at,
            "error": e.error,
            "error_name": e.error_name,
            "explanation": explanations.explain_error(e.error),
        }
        for e in errors
    ]


def _vehicle_errors(link: TeslaLink, vin: str) -> list[dict[str, Any]]:
    return _decorate(link_fleet_call(link=link, call=lambda c: c.fleet_telemetry_errors(vin)))


def telemetry_vehicle_errors(
    *, vehicle: Vehicle, access: VehicleAccess
) -> tuple[list[dict[str, Any]], str]:
    """The car's recent telemetry errors, asked through the viewer's own link; (errors,
    problem). `access` is the viewer's current access to the car: a page view never borrows
    another user's link (the owner's, or a former or new owner's)."""
    try:
        return _vehicle_errors(access.link, vehicle.vin), ""
    except LinkBroken as exc:
        # The viewer's own link: its reason is theirs to read.
        return [], _("Your Tesla account needs a relink: %(why)s") % {"why": exc}
    except TeslaError as exc:
        if access.is_driver and exc.permanent:
            return [], _(
                "Tesla shows a vehicle's telemetry errors only to its owner's account, and "
                "your Tesla account has driver access to this vehicle. Ask the owner to link "
                "their Tesla account."
            )
        return [], str(exc)


def telemetry_vehicle_errors_as_staff(
    *, vehicle: Vehicle, link: TeslaLink, user: User
) -> tuple[list[dict[str, Any]], str]:
    """A manager with no access of their own reads the car's errors through an owner's link
    (Tesla answers only an account that lists the car). It uses another person's token, so
    it is recorded in the audit log, naming whose link."""
    errors: list[dict[str, Any]] = []
    try:
        errors, problem = _vehicle_errors(link, vehicle.vin), ""
    except LinkBroken:
        # Not the manager's link: its relink reason stays with its owner (and the admin).
        problem = _("The owner's Tesla account needs a relink.")
    except TeslaError as exc:
        problem = str(exc)
    assignment = (
        TelemetryAssignment.objects.select_related("config").filter(vehicle=vehicle).first()
    )
    config = assignment.config if assignment else None
    through = _("through the Tesla account %(account)s of %(owner)s") % {
        "account": link,
        "owner": link.user.email,
    }
    found = _("errors reported: %(n)d") % {"n": len(errors)}
    TelemetryAuditEntry.objects.create(
        actor=user,
        actor_email=user.email,
        action=Action.ERRORS_READ,
        config=config,
        config_name=config.name if config else "",
        vins=[vehicle.vin],
        outcome=f"{through}: {problem or found}",
    )
    return errors, problem


def telemetry_partner_errors() -> list[dict[str, Any]]:
    """Recent errors across the fleet, per region (partner token); each region says why if
    it could not be asked."""
    regions = []
    for region in partner_selectors.region_codes():
        problem, errors = "", []
        try:
            errors = _decorate(partner_telemetry_errors(region=region))
        except (PartnerSetupError, TeslaError) as exc:
            problem = str(exc)
        regions.append({"region": region, "errors": errors, "problem": problem})
    return regions
