from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fleetportal.permissions import MANAGE_ROSTER, staff_permission_required
from fleetportal.queueing import QueueUnavailable, queue_unavailable_message
from partners import pairing
from partners import selectors as partner_selectors
from vehicles import selectors, services
from vehicles import vin as vinlib
from vehicles.forms import RosterForm, VehicleFilterForm
from vehicles.models import Vehicle, VehicleAccess

PAGE_SIZE = 50


def _tesla_pairing_link(vehicle: Vehicle, access: VehicleAccess) -> str:
    # Only the owner's account can add a key (DRIVER access cannot), and only an unpaired car
    # needs one; an unknown region (never synced) has no pairing base to link to. An Intel
    # Atom Model S/X (fleet_status reports its Safety screen toggle) takes no key at all.
    if (
        access.is_driver
        or vehicle.key_paired
        or not vehicle.region
        or vehicle.safety_screen_streaming is not None
    ):
        return ""
    try:
        return pairing.pairing_link(region=vehicle.region, vin=vehicle.vin)
    except (KeyError, ValueError):
        return ""


def _pairing_link(request: HttpRequest, vehicle: Vehicle, access: VehicleAccess) -> str:
    """The portal's URL in front of Tesla's pairing link (§3.4): opening it queues a re-check
    of the key state, since Tesla sends nothing back after pairing."""
    if not _tesla_pairing_link(vehicle, access):
        return ""
    token = services.pairing_token(access=access)
    return request.build_absolute_uri(reverse("vehicles:pairing_open", args=[token]))


@login_required
@require_GET
def vehicle_list(request: HttpRequest) -> HttpResponse:
    form = VehicleFilterForm(request.GET or None)
    rows = selectors.vehicle_accesses_for_user(user=request.user, **form.filters())
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    runs = selectors.sync_runs_for_user(user=request.user)
    # An empty page says why: the filters matched nothing, or the user has no car at all.
    has_vehicles = bool(page.object_list) or selectors.current_accesses(user=request.user).exists()
    return render(
        request,
        "vehicles/list.html",
        {
            "form": form,
            "page": page,
            "has_vehicles": has_vehicles,
            "query": query.urlencode(),
            "runs": runs,
            "syncing": any(run.active for run in runs),
        },
    )


@login_required
@require_GET
def vehicle_detail(request: HttpRequest, pk: int) -> HttpResponse:
    vehicle, access = selectors.get_vehicle_for_user(user=request.user, vehicle_id=pk)
    pairing_link = _pairing_link(request, vehicle, access)
    key = partner_selectors.partner_key() if pairing_link else None
    return render(
        request,
        "vehicles/detail.html",
        {
            "vehicle": vehicle,
            "access": access,
            "decoded": vehicle.decoded,
            "pairing_link": pairing_link,
            # Tesla fetches the portal's key when a car pairs: while the key watch finds it
            # not served, pairing fails in the Tesla app ("application has not registered").
            "pairing_blocked": bool(pairing_link and key and key.hosting_problem),
            "streaming_toggle_off": (
                not access.is_driver and vehicle.safety_screen_streaming is False
            ),
            "recheck_minutes": services.PAIRING_RECHECK_SECONDS // 60,
        },
    )


@require_GET
def vehicle_pairing_open(request: HttpRequest, token: str) -> HttpResponse:
    """The pairing link, opened (usually on the phone, not logged in: the signed token is the
    capability): queue one re-check of the key state, then go on to Tesla's pairing link."""
    access = services.pairing_access(token=token)
    if access is None:
        raise Http404
    tesla_link = _tesla_pairing_link(access.vehicle, access)
    if not tesla_link:
        raise Http404  # paired meanwhile, or no region: nothing to pair
    services.pairing_opened(access=access)
    return redirect(tesla_link)


@login_required
def vehicle_check(request: HttpRequest, pk: int) -> HttpResponse:
    """Check again: ask Tesla for this one car's key pairing and status, through the
    viewer's own link (a foreign car is a 404 before any call)."""
    # Scoped fetch first: someone else's id is a 404 whatever the method, never a 405.
    vehicle, access = selectors.get_vehicle_for_user(user=request.user, vehicle_id=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    result = services.vehicle_status_check(access=access)
    if result.checked:
        if vehicle.key_paired:
            messages.success(request, _("Checked with Tesla: the portal's key is paired."))
        else:
            messages.info(request, _("Checked with Tesla: the portal's key is not paired yet."))
    elif access.is_driver:
        messages.error(
            request,
            _(
                "Tesla refused the check through your link (%(reason)s): you have driver "
                "access, and only the owner's linked account can see this vehicle's key state."
            )
            % {"reason": result.problem},
        )
    else:
        messages.error(
            request,
            _("Tesla did not answer for this vehicle (%(reason)s). Try again later.")
            % {"reason": result.problem},
        )
    return redirect("vehicles:detail", pk=vehicle.pk)


@login_required
@require_GET
def vehicle_by_vin(request: HttpRequest, vin: str) -> HttpResponse:
    vin = vinlib.normalise_vin(vin)
    # No VIN is longer, and PostgreSQL refuses a NUL byte in a query (a 500, not a 404).
    if len(vin) > vinlib.VIN_LENGTH or "\x00" in vin:
        raise Http404
    access = (
        selectors.current_accesses(user=request.user)
        .filter(vehicle__vin=vin)
        .only("vehicle_id")
        .first()
    )
    if access is None:
        raise Http404
    return redirect("vehicles:detail", pk=access.vehicle_id)


@login_required
@require_POST
def vehicle_sync(request: HttpRequest) -> HttpResponse:
    try:
        runs = services.vehicles_sync_for_user(user=request.user)
    except QueueUnavailable:
        messages.error(request, queue_unavailable_message())
        return redirect("vehicles:list")
    if runs:
        messages.success(
            request,
            _("Syncs queued: %(n)d.") % {"n": len(runs)},
        )
    else:
        messages.info(request, _("Nothing to sync: a sync is already running, or no usable link."))
    return redirect("vehicles:list")


@login_required
@require_GET
def vehicle_sync_status(request: HttpRequest) -> JsonResponse:
    runs = selectors.sync_runs_for_user(user=request.user)
    return JsonResponse(
        {
            "active": any(run.active for run in runs),
            "runs": [
                {
                    "link": run.link_id,
                    "account": run.link.email or run.link.full_name,
                    "started_at": run.started_at,
                    "finished_at": run.finished_at,
                    # The same line as the page's, already escaped: one wording, one home.
                    "html": render_to_string(
                        "vehicles/_sync_run.html", {"run": run}, request=request
                    ).strip(),
                    "status": run.status,
                    "label": str(run.get_status_display()),
                    "pages": run.pages,
                    "seen": run.seen,
                    "gone": run.gone,
                    "statuses": run.statuses,
                    "error": run.error,
                }
                for run in runs
            ],
        }
    )


@staff_permission_required(MANAGE_ROSTER)
@require_http_methods(["GET", "POST"])
def roster(request: HttpRequest) -> HttpResponse:
    form = RosterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        added = services.roster_add(
            vins=form.cleaned_data["vins"], added_by=request.user, note=form.cleaned_data["note"]
        )
        messages.success(
            request,
            _("VINs added to the roster: %(n)d.") % {"n": added},
        )
        return redirect("vehicles:roster")
    entries = Paginator(selectors.roster_entries(), 100).get_page(request.GET.get("page"))
    return render(request, "vehicles/roster.html", {"form": form, "entries": entries})
