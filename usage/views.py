from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from fleetportal.permissions import VIEW_USAGE, staff_permission_required
from usage import recorder, services
from usage.categories import REQUEST_CATEGORIES, SIGNALS
from usage.models import UsageState


def category_labels() -> dict[str, str]:
    return {
        "data": _("Data"),
        "commands": _("Commands"),
        "wakes": _("Wakes"),
        "telemetry_config": _("Telemetry config"),
        "partner": _("Partner"),
        SIGNALS: _("Streamed signals"),
    }


def _bars(values: dict, labels: dict | None = None) -> list[dict]:
    """Rows for an inline SVG bar chart: width in % of the largest value."""
    top = max(values.values(), default=Decimal(0)) or Decimal(1)
    return [
        {
            "label": labels.get(key, key) if labels else key,
            "value": value,
            "width": float(value * 100 / top),
        }
        for key, value in values.items()
    ]


@staff_permission_required(VIEW_USAGE)
def overview(request: HttpRequest) -> HttpResponse:
    recorder.flush()  # this process's own calls, so the page is up to date
    usage = services.usage_month()
    state = UsageState.objects.filter(pk=1).first()
    stopped = (
        state is not None
        and state.exceeded_at is not None
        and (state.resumed_at is None or state.resumed_at < state.exceeded_at)
    )
    labels = category_labels()
    budget = services.budget()
    days = [
        {
            "day": day,
            "cost": usage.cost_by_day[day],
            "counts": [
                (labels[c], usage.days[day].get(c, 0)) for c in (*REQUEST_CATEGORIES, SIGNALS)
            ],
        }
        for day in sorted(usage.days, reverse=True)
    ]
    context = {
        "usage": usage,
        "state": state,
        "stopped": stopped,
        "paused": services.optional_work_paused(),
        "budget": budget,
        "credit": services.credit(),
        "share": int(usage.month_to_date * 100 / budget) if budget else None,
        "day_bars": _bars({row["day"]: row["cost"] for row in reversed(days)}),
        "category_bars": _bars(usage.cost_by_category, labels),
        "region_bars": _bars(usage.cost_by_region),
        "config_bars": _bars(usage.signal_cost_by_config, {"": _("No configuration")}),
        "categories": [
            (labels[c], usage.calls_by_category[c], usage.cost_by_category[c]) for c in labels
        ],
        "days": days,
        "rates": [(labels[c], rate) for c, rate in services.rates().items() if c in labels],
    }
    return render(request, "usage/overview.html", context)


@staff_permission_required(VIEW_USAGE)
@require_POST
def resume(request: HttpRequest) -> HttpResponse:
    if services.usage_resume(user=request.user):
        messages.success(request, _("Fleet API calls resumed."))
    else:
        messages.info(request, _("Fleet API calls were not stopped."))
    return redirect("usage:overview")
