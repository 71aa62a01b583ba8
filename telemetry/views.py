from __future__ import annotations

import re
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.reasons import failure_text
from fleetportal.permissions import staff_permission_required
from fleetportal.queueing import QueueUnavailable, queue_unavailable_message
from telemetry import catalogue, explanations, fleet, live, selectors, services, streaming
from telemetry.forms import (
    AssignForm,
    FleetAssignForm,
    FleetFilterForm,
    PresetForm,
    TelemetryConfigForm,
    builder_catalogue_context,
    default_field_rows,
    field_formset,
    preset_field_data,
)
from telemetry.models import TelemetryConfig, TelemetryRun
from vehicles import selectors as vehicle_selectors


def telemetry_manager_required(view):
    """Holding the telemetry permission: the portal's one staff gate (403, or sign in)."""
    return staff_permission_required(selectors.PERMISSION)(view)


def _get_config(pk: int) -> TelemetryConfig:
    return get_object_or_404(TelemetryConfig, pk=pk)


@telemetry_manager_required
@require_GET
def config_list(request: HttpRequest) -> HttpResponse:
    return render(request, "telemetry/list.html", {"configs": selectors.configs()})


def _builder(request: HttpRequest, config: TelemetryConfig | None) -> HttpResponse:
    created = config is None
    instance = config or TelemetryConfig()
    extra = 3 if config else len(catalogue.DEFAULT_FIELDS) + 2
    formset_class = field_formset(extra=extra)
    applying = request.method == "POST" and "apply_preset" in request.POST
    preset_form = PresetForm(request.POST if applying else None)
    if applying:
        # "Apply preset" (works without JavaScript): the page again with the preset's rows,
        # the server part as typed, nothing saved and nothing judged yet.
        form = TelemetryConfigForm.redisplay(request.POST, instance=instance)
        data = request.POST
        if preset_form.is_valid():
            chosen = catalogue.preset(preset_form.cleaned_data["preset"])
            data = preset_field_data(request.POST, preset=chosen)
        formset = formset_class(data, instance=instance, prefix="fields")
        status = 200 if preset_form.is_valid() else 400
    elif request.method == "POST":
        form = TelemetryConfigForm(request.POST, instance=instance)
        formset = formset_class(request.POST, instance=instance, prefix="fields")
        if form.is_valid() and formset.is_valid():
            try:
                saved, version = services.telemetry_config_save(
                    form=form,
                    formsets=[formset],
                    user=request.user,
                    revision=form.cleaned_data.get("revision", ""),
                )
            except services.StaleEdit:
                form.add_error(
                    None,
                    _(
                        "Someone else saved this configuration after you opened it, so nothing "
                        "was saved. Your entries are still below: open the configuration again "
                        "in another tab to see the other changes, then save yours over them."
                    ),
                )
                form.data = form.data.copy()
                form.data["revision"] = selectors.config_revision(config)
            except IntegrityError:
                # Two editors saving the same field (or two new configs with one name) at once:
                # the database refused the second; nothing of it was saved.
                form.add_error(
                    None,
                    _(
                        "Someone else saved the same field or name at the same moment, so "
                        "nothing was saved. Check the configuration and save again."
                    ),
                )
            else:
                messages.success(
                    request,
                    _("Saved %(name)s, version %(number)d.")
                    % {"name": saved.name, "number": version.number},
                )
                return redirect("telemetry:detail", pk=saved.pk)
        status = 400
    else:
        form = TelemetryConfigForm(instance=instance)
        initial = default_field_rows() if created else None
        formset = formset_class(instance=instance, prefix="fields", initial=initial)
        status = 200
    return render(
        request,
        "telemetry/builder.html",
        {
            "form": form,
            "formset": formset,
            "config": config,
            "groups": catalogue.grouped(),
            "location_fields": sorted(catalogue.LOCATION_FIELDS),
            "version_warnings": _version_warnings(config, formset),
            **builder_catalogue_context(formset, preset_form),
        },
        status=status,
    )


def _version_warnings(config: TelemetryConfig | None, formset) -> list[str]:
    """What the assigned cars' software cannot take: the fields shown, and the saved config's
    delivery policy and Location minimum change (a client older than 1.0.0 refuses them)."""
    if config is None:
        return []
    names = [str(f["name"].value() or "").strip() for f in formset.forms]
    warnings = selectors.firmware_warnings(config=config, names=[n for n in names if n])
    assigned = [a.vehicle for a in config.assignments.select_related("vehicle")]
    too_old = selectors.client_problems(config=config, vehicles=assigned)
    if too_old:
        warnings.append(
            ngettext(
                "%(n)d assigned car runs a telemetry client older than 1.0.0 and would refuse "
                "this configuration's delivery policy or Location minimum change.",
                "%(n)d assigned cars run a telemetry client older than 1.0.0 and would refuse "
                "this configuration's delivery policy or Location minimum change.",
                len(too_old),
            )
            % {"n": len(too_old)}
        )
    return warnings


@telemetry_manager_required
@require_http_methods(["GET", "POST"])
def config_create(request: HttpRequest) -> HttpResponse:
    return _builder(request, None)


@telemetry_manager_required
@require_http_methods(["GET", "POST"])
def config_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _builder(request, _get_config(pk))


def _detail_context(config: TelemetryConfig) -> dict:
    rows = selectors.config_deployments(config=config)
    current = selectors.current_version(config=config)
    vehicles = [r["vehicle"] for r in rows]
    problems = selectors.location_problems(config=config, vehicles=vehicles)
    too_old = selectors.client_problems(config=config, vehicles=vehicles)
    for row in rows:
        deployment = row["deployment"]
        row["location_problem"] = problems.get(row["vehicle"].pk, "")
        row["client_problem"] = too_old.get(row["vehicle"].pk, "")
        row["explanation"] = explanations.explain_error(deployment.error) if deployment else ""
        row["skip"] = (
            explanations.explain_skip(deployment.reason)
            if deployment and deployment.reason
            else None
        )
    run = selectors.latest_run(config=config)
    outcome = selectors.run_outcome(selectors.run_counts(run)) if run else None
    return {
        "config": config,
        "current": current,
        "rows": rows,
        # Offer a re-push when some assigned car is not on the current version.
        "stale": selectors.stale_count(rows, current),
        "run": run,
        "run_outcome": outcome,
        "run_outcome_text": selectors.run_outcome_text(outcome) if outcome else "",
        "audit": selectors.audit_for_config(config=config),
        "assign_form": AssignForm(),
        "fields": config.fields.all(),
    }


@telemetry_manager_required
@require_GET
def config_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "telemetry/detail.html", _detail_context(_get_config(pk)))


@telemetry_manager_required
@require_POST
def config_assign(request: HttpRequest, pk: int) -> HttpResponse:
    """The paste path: every VIN valid and known, or nothing assigned and the paste kept."""
    config = _get_config(pk)
    form = AssignForm(request.POST)
    if not form.is_valid():
        context = _detail_context(config) | {"assign_form": form}
        return render(request, "telemetry/detail.html", context, status=400)
    assigned, _unknown = services.telemetry_config_assign(
        config=config, vins=form.cleaned_data["vins"], user=request.user
    )
    messages.success(request, _("Vehicles assigned: %(n)d.") % {"n": len(assigned)})
    return redirect("telemetry:detail", pk=config.pk)


NO_SKIP = {"label": "", "fix": ""}

# A vehicle's primary key as a form sends it: ASCII digits, within a bigint.
VEHICLE_ID = re.compile(r"[0-9]{1,18}")


def _vehicle_ids(values: list[str]) -> list[int]:
    """The vehicle ids ticked on the config page. Anything but ASCII digits that fit a
    bigint is a forged form: 400 (`str.isdigit` takes "²", which `int` refuses)."""
    if not all(VEHICLE_ID.fullmatch(v) for v in values):
        raise BadRequest("vehicle ids are integers")
    return [int(v) for v in values]


@telemetry_manager_required
@require_POST
def config_push(request: HttpRequest, pk: int) -> HttpResponse:
    config = _get_config(pk)
    if not config.fields.exists():
        messages.error(request, _("Add at least one field."))
        return redirect("telemetry:detail", pk=config.pk)
    ids = _vehicle_ids(request.POST.getlist("vehicle")) or None
    try:
        run = services.telemetry_push_start(config=config, user=request.user, vehicle_ids=ids)
    except QueueUnavailable:
        messages.error(request, queue_unavailable_message())
        return redirect("telemetry:detail", pk=config.pk)
    except services.ConfigExpired as exc:
        messages.error(request, str(exc))
        return redirect("telemetry:detail", pk=config.pk)
    queued = ngettext(
        "Push queued for %(n)d vehicle.", "Push queued for %(n)d vehicles.", run.total
    )
    messages.success(request, queued % {"n": run.total})
    return redirect("telemetry:detail", pk=config.pk)


@telemetry_manager_required
@require_http_methods(["GET", "POST"])
def config_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Removing a config from cars asks first: GET lists the cars, a POST with `confirm`
    removes. The config page's POST (no `confirm`) is sent to the GET page."""
    config = _get_config(pk)
    source = request.POST if request.method == "POST" else request.GET
    ids = _vehicle_ids(source.getlist("vehicle"))
    if not ids:
        messages.error(request, _("Choose the vehicles to remove the config from."))
        return redirect("telemetry:detail", pk=config.pk)
    if request.method == "GET":
        rows = [r for r in selectors.config_deployments(config=config) if r["vehicle"].pk in ids]
        if not rows:
            messages.error(request, _("Choose the vehicles to remove the config from."))
            return redirect("telemetry:detail", pk=config.pk)
        return render(request, "telemetry/remove_confirm.html", {"config": config, "rows": rows})
    if not request.POST.get("confirm"):
        query = urlencode([("vehicle", i) for i in ids])
        return redirect(f"{reverse('telemetry:remove', args=[config.pk])}?{query}")
    try:
        run = services.telemetry_remove_start(config=config, user=request.user, vehicle_ids=ids)
    except QueueUnavailable:
        messages.error(request, queue_unavailable_message())
        return redirect("telemetry:detail", pk=config.pk)
    queued = ngettext(
        "Removal queued for %(n)d vehicle.", "Removal queued for %(n)d vehicles.", run.total
    )
    messages.success(request, queued % {"n": run.total})
    return redirect("telemetry:detail", pk=config.pk)


@telemetry_manager_required
@require_GET
def run_status(request: HttpRequest, run_id: int) -> JsonResponse:
    run = get_object_or_404(TelemetryRun.objects.select_related("version"), pk=run_id)
    counts = selectors.run_counts(run)
    outcome = selectors.run_outcome(counts)
    outcome_text = selectors.run_outcome_text(outcome)
    deployments = run.deployments.select_related("vehicle").order_by("vehicle__vin")
    return JsonResponse(
        {
            "id": run.pk,
            "status": run.status,
            "label": str(run.get_status_display()),
            "active": run.active,
            "total": run.total,
            "counts": counts,
            "outcome": outcome,
            "outcome_text": outcome_text,
            # The page's summary line, as detail.html words it (same msgid).
            "summary": ngettext(
                "%(kind)s of version %(number)s to %(total)s vehicle: %(status)s",
                "%(kind)s of version %(number)s to %(total)s vehicles: %(status)s",
                run.total,
            )
            % {
                "kind": run.get_kind_display(),
                "number": run.version.number,
                "total": run.total,
                "status": run.get_status_display(),
            },
            "done": run.total - sum(counts.get(status, 0) for status in services.runs.RUN_WAITING),
            "vehicles": [
                {
                    "vin": d.vehicle.vin,
                    "status": d.status,
                    "label": str(d.get_status_display()),
                    "reason": d.reason,
                    "reason_label": skip["label"],
                    "fix": skip["fix"],
                    "error": failure_text(d.error),
                }
                for d in deployments
                for skip in [explanations.explain_skip(d.reason) if d.reason else NO_SKIP]
            ],
        }
    )


@telemetry_manager_required
@require_GET
def error_inbox(request: HttpRequest) -> HttpResponse:
    regions = services.telemetry_partner_errors()
    recorded = [
        {"row": row, "explanation": explanations.explain_error(row.error)}
        for row in selectors.recorded_errors(limit=200)
    ]
    skipped = [
        {"row": row, "skip": explanations.explain_skip(row.reason)}
        for row in selectors.skipped_deployments(limit=200)
    ]
    return render(
        request,
        "telemetry/errors.html",
        {
            "regions": regions,
            "recorded": recorded,
            "skipped": skipped,
            "stream_events": selectors.stream_events(limit=200),
            "stream_drops": selectors.stream_drops(days=STREAM_DROP_DAYS),
            "stream_drop_days": STREAM_DROP_DAYS,
        },
    )


# The error inbox counts the stream's set-aside input over this many days (today included).
STREAM_DROP_DAYS = 7
OVERVIEW_PAGE_SIZE = 50
# The config filter's value for vehicles without a configuration.
NO_CONFIG = "none"


def _overview_query(config: str, state: str, page: int | None = None) -> str:
    params = [(k, v) for k, v in (("config", config), ("state", state), ("page", page)) if v]
    return "?" + urlencode(params) if params else "?"


@telemetry_manager_required
@require_GET
def stream_overview(request: HttpRequest) -> HttpResponse:
    """Vehicles per streaming state, for the fleet and per config, down to the cars."""
    config = request.GET.get("config", "")
    state = request.GET.get("state", "")
    if state and state not in streaming.State.values:
        raise BadRequest("unknown state")
    if config and config != NO_CONFIG and not VEHICLE_ID.fullmatch(config):
        raise BadRequest("unknown configuration")
    rows = streaming.stream_states()
    per_config = streaming.counts_by_config(rows)
    if config == NO_CONFIG:
        rows = [r for r in rows if r.state.config_id is None]
    elif config:
        rows = [r for r in rows if r.state.config_id == int(config)]
    counts = streaming.count_states(rows)
    fleet = [
        {
            "state": s,
            "label": s.label,
            "tone": streaming.TONE[s],
            "count": counts.get(s, 0),
            # Bars are scaled to the scope's vehicle count: widths read as shares.
            "width": round(100.0 * counts.get(s, 0) / len(rows), 3) if rows else 0,
            "query": _overview_query(config, s),
        }
        for s in streaming.State
    ]
    for group in per_config:
        key = str(group["config_id"]) if group["config_id"] is not None else NO_CONFIG
        group["key"] = key
        group["query"] = _overview_query(key, "")
        for bar in group["bars"]:
            bar.query = _overview_query(key, bar.state)
    order = {s: n for n, s in enumerate(streaming.State)}
    listed = sorted(
        (r for r in rows if not state or r.state.state == state),
        key=lambda r: (order[r.state.state], r.vin),
    )
    page = Paginator(listed, OVERVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "telemetry/overview.html",
        {
            "fleet": fleet,
            "total": len(rows),
            "per_config": per_config,
            "page": page,
            "config": config,
            "state": state,
            "state_label": streaming.State(state).label if state else "",
            "configs": TelemetryConfig.objects.order_by("name").only("pk", "name"),
            "states": streaming.State.choices,
            "no_config": NO_CONFIG,
            "page_query": _overview_query(config, state),
            "consumers": selectors.stream_consumers(),
        },
    )


@telemetry_manager_required
@require_POST
def vehicle_resync(request: HttpRequest, pk: int) -> HttpResponse:
    """Re-post the car's config to it alone: it then sends every configured field once."""
    # A manager (the gate above) may resync any car: the one scoped fetch, with any_car.
    vehicle, _access = vehicle_selectors.get_vehicle_for_user(
        user=request.user, vehicle_id=pk, any_car=True
    )
    try:
        run = services.telemetry_vehicle_resync(vehicle=vehicle, user=request.user)
    except services.NothingToResync as exc:
        messages.warning(request, str(exc))
    except QueueUnavailable:
        messages.error(request, queue_unavailable_message())
    else:
        messages.success(
            request,
            _(
                "Resync queued: version %(number)d of %(config)s is re-posted to this car, "
                "which then sends every configured field once."
            )
            % {"number": run.version.number, "config": run.config.name},
        )
    return redirect("telemetry:vehicle", pk=vehicle.pk)


@login_required
@require_http_methods(["GET", "POST"])
def vehicle_telemetry(request: HttpRequest, pk: int) -> HttpResponse:
    """A car's telemetry state and the errors it reported, asked through the viewer's own
    link. A manager with no access of their own sees whose link a read would use, and reads
    through it only by pressing the button (a POST, recorded in the audit log)."""
    # Managers may open any car; without an access of their own they get None.
    vehicle, access = vehicle_selectors.get_vehicle_for_user(
        user=request.user, vehicle_id=pk, any_car=selectors.can_manage(request.user)
    )
    owner_link = None
    errors: list | None = None
    problem = ""
    if access is not None:
        if request.method == "POST":
            return redirect("telemetry:vehicle", pk=vehicle.pk)
        errors, problem = services.telemetry_vehicle_errors(vehicle=vehicle, access=access)
    else:
        owner_link = selectors.vehicle_owner_link(vehicle=vehicle)
        if owner_link is None:
            problem = _("No linked owner account lists this vehicle.")
        elif request.method == "POST":
            errors, problem = services.telemetry_vehicle_errors_as_staff(
                vehicle=vehicle, link=owner_link, user=request.user
            )
    state = selectors.vehicle_state(vehicle=vehicle, viewer=request.user)
    deployment = state["deployment"]
    can_manage = selectors.can_manage(request.user)
    return render(
        request,
        "telemetry/vehicle.html",
        {
            "vehicle": vehicle,
            "access": access,
            "owner_link": owner_link,
            "state": state,
            "explanation": explanations.explain_error(deployment.error) if deployment else "",
            "errors": errors,
            "problem": problem,
            "can_manage": can_manage,
            # The streaming truth, its explanation and the resync: for managers.
            "stream": streaming.vehicle_stream_state(vehicle=vehicle) if can_manage else None,
            "stream_facts": selectors.vehicle_stream(vehicle=vehicle) if can_manage else None,
            "stream_events": selectors.stream_events(vehicle=vehicle, limit=10)
            if can_manage
            else [],
            # Where a manager goes back to: the car's config, or the one its last push was of.
            "config_id": state["assignment"].config_id
            if state["assignment"]
            else (deployment.version.config_id if deployment else None),
        },
    )


def _live_vehicle(request: HttpRequest, pk: int):
    """The car and the viewer's own current access to it, or 404. A location is personal:
    staff without an access of their own get 404 here too (no `any_car`)."""
    return vehicle_selectors.get_vehicle_for_user(user=request.user, vehicle_id=pk)


@login_required
@never_cache
@require_GET
def vehicle_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner's live page: the car's latest streamed values, worded, with charts of the
    fields that keep history; live.js polls vehicle_live_data to update it in place."""
    vehicle, access = _live_vehicle(request, pk)
    return render(
        request,
        "telemetry/live.html",
        {
            "vehicle": vehicle,
            "access": access,
            "live": live.vehicle_live(vehicle=vehicle, access=access),
            "poll_seconds": live.POLL_SECONDS,
        },
    )


@login_required
@never_cache
@require_GET
def vehicle_live_data(request: HttpRequest, pk: int) -> JsonResponse:
    vehicle, access = _live_vehicle(request, pk)
    return JsonResponse(live.as_json(live.vehicle_live(vehicle=vehicle, access=access)))


FLEET_PAGE_SIZE = 50
# Outcome messages name at most this many VINs.
VINS_NAMED = 10


def _vins_named(vins: list[str]) -> str:
    named = ", ".join(vins[:VINS_NAMED])
    return named + (" …" if len(vins) > VINS_NAMED else "")


def _fleet_page(
    request: HttpRequest,
    filter_form: FleetFilterForm,
    assign_form: FleetAssignForm,
    *,
    selected: frozenset[int] = frozenset(),
    status: int = 200,
) -> HttpResponse:
    valid = filter_form.is_valid() if filter_form.is_bound else True
    ids = fleet.fleet_vehicle_ids(filter_form.filters()) if valid else []
    page = Paginator(ids, FLEET_PAGE_SIZE).get_page(request.GET.get("page"))
    filters = filter_form.active()
    return render(
        request,
        "telemetry/fleet.html",
        {
            "form": filter_form,
            "assign_form": assign_form,
            "page": page,
            "rows": fleet.fleet_rows(list(page.object_list)),
            "total": len(ids),
            "filtered": bool(filters),
            "filters": filters,
            "page_query": "?" + urlencode(filters),
            "selected": selected,
            # An empty list says why: the filters matched nothing, or no car is known at all.
            "fleet_empty": not ids and fleet.fleet_is_empty(),
        },
        status=status if valid else 400,
    )


@telemetry_manager_required
@require_GET
def fleet_list(request: HttpRequest) -> HttpResponse:
    """Every vehicle the portal knows, filtered, for assigning configs to many at once."""
    return _fleet_page(request, FleetFilterForm(request.GET or None), FleetAssignForm())


@telemetry_manager_required
@require_POST
def fleet_assign(request: HttpRequest) -> HttpResponse:
    """Assign the ticked vehicles, or all matching the filter the list showed, to a config."""
    filter_form = FleetFilterForm(request.POST)
    form = FleetAssignForm(request.POST)
    picked = _vehicle_ids(request.POST.getlist("vehicle"))
    if not filter_form.is_valid() or not form.is_valid():
        return _fleet_page(request, filter_form, form, selected=frozenset(picked), status=400)
    ids = (
        fleet.fleet_vehicle_ids(filter_form.filters())
        if form.cleaned_data["all_matching"]
        else picked
    )
    if not ids:
        form.add_error(
            None,
            _("Tick the vehicles to assign, or “all matching the filter”.")
            if not form.cleaned_data["all_matching"]
            else _("No vehicle matches the filter: nothing was assigned."),
        )
        return _fleet_page(request, filter_form, form, status=400)
    config = form.cleaned_data["target"]
    outcome = services.telemetry_config_assign_vehicles(
        config=config, vehicle_ids=ids, user=request.user
    )
    _fleet_outcome_messages(request, config, outcome)
    return redirect(reverse("telemetry:fleet") + "?" + urlencode(filter_form.active()))


def _fleet_outcome_messages(
    request: HttpRequest, config: TelemetryConfig, outcome: services.AssignOutcome
) -> None:
    names = {"config": config.name}
    if outcome.assigned:
        text = ngettext(
            "%(n)d vehicle assigned to %(config)s.",
            "%(n)d vehicles assigned to %(config)s.",
            len(outcome.assigned),
        ) % (names | {"n": len(outcome.assigned)})
        if outcome.moved:
            text += " " + ngettext(
                "%(n)d of them moved from another configuration.",
                "%(n)d of them moved from another configuration.",
                len(outcome.moved),
            ) % {"n": len(outcome.moved)}
        text += " " + _("Push the configuration from its page to send it to the cars.")
        messages.success(request, text)
    if outcome.already:
        messages.info(
            request,
            ngettext(
                "%(n)d vehicle not assigned: it is on %(config)s already (%(vins)s).",
                "%(n)d vehicles not assigned: they are on %(config)s already (%(vins)s).",
                len(outcome.already),
            )
            % (names | {"n": len(outcome.already), "vins": _vins_named(outcome.already)}),
        )
    if outcome.missing:
        messages.warning(
            request,
            ngettext(
                "%(n)d vehicle not assigned: the portal no longer has it.",
                "%(n)d vehicles not assigned: the portal no longer has them.",
                len(outcome.missing),
            )
            % {"n": len(outcome.missing)},
        )
    if outcome.key_not_paired:
        messages.warning(
            request,
            ngettext(
                "The portal's key is not known to be paired on %(n)d assigned vehicle "
                "(%(vins)s): Tesla skips it at push until the owner pairs the key.",
                "The portal's key is not known to be paired on %(n)d assigned vehicles "
                "(%(vins)s): Tesla skips them at push until the owners pair the key.",
                len(outcome.key_not_paired),
            )
            % {"n": len(outcome.key_not_paired), "vins": _vins_named(outcome.key_not_paired)},
        )
