"""Estimated cost, the monthly budget (emails at 80 % and 100 %, the pause of optional work),
and resuming Fleet API calls after Tesla's EXCEEDED_LIMIT."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from fleetportal.mail import send_bilingual_mail
from fleetportal.permissions import VIEW_USAGE, staff_holding
from usage import recorder, sources
from usage.categories import REQUEST_CATEGORIES, SIGNALS
from usage.models import ApiCallDay, UsageState

CENT = Decimal("0.01")


def _money(text: str) -> Decimal:
    """A rate or amount from settings: "0.002" or "1/500"."""
    fraction = Fraction(str(text).strip())
    return Decimal(fraction.numerator) / Decimal(fraction.denominator)


def rates() -> dict[str, Decimal]:
    return {category: _money(value) for category, value in settings.USAGE_RATES.items()}


def budget() -> Decimal:
    return _money(settings.USAGE_MONTHLY_BUDGET)


def credit() -> Decimal:
    return _money(settings.USAGE_MONTHLY_CREDIT)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


@dataclass
class MonthUsage:
    """One month's counts and estimated cost (USD) until `today` (UTC)."""

    month: dt.date
    today: dt.date
    # day -> category -> billed calls (signals under SIGNALS)
    days: dict[dt.date, dict[str, int]] = field(default_factory=dict)
    unbilled: int = 0
    cost_by_day: dict[dt.date, Decimal] = field(default_factory=dict)
    cost_by_region: dict[str, Decimal] = field(default_factory=dict)
    cost_by_category: dict[str, Decimal] = field(default_factory=dict)
    calls_by_category: dict[str, int] = field(default_factory=dict)
    busiest: list[tuple[str, int]] = field(default_factory=list)  # (VIN, signals)
    # the ten busiest fields: (field, signals, cost)
    busiest_fields: list[tuple[str, int, Decimal]] = field(default_factory=list)
    # configuration name ("" for none) -> cost of its cars' streamed signals
    signal_cost_by_config: dict[str, Decimal] = field(default_factory=dict)
    month_to_date: Decimal = Decimal(0)
    projected: Decimal = Decimal(0)


def usage_month(*, now: dt.datetime | None = None) -> MonthUsage:
    """This month's billed calls and signals per day, category and region, and their cost."""
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).date()
    usage = MonthUsage(month=month_start(today), today=today)
    price = rates()
    days: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = (
        ApiCallDay.objects.filter(day__gte=usage.month, day__lte=today)
        .values("day", "region", "category", "billed")
        .annotate(n=Sum("calls"))
    )
    by_region: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        if not row["billed"]:
            usage.unbilled += row["n"]
            continue
        days[row["day"]][row["category"]] += row["n"]
        by_region[row["region"]] += row["n"] * price.get(row["category"], Decimal(0))
    by_vehicle: dict[str, int] = defaultdict(int)
    by_config: dict[str, Decimal] = defaultdict(Decimal)
    for day, region, vin, config, signals in sources.signal_days(usage.month, today):
        days[day][SIGNALS] += signals
        by_region[region or "?"] += signals * price[SIGNALS]
        by_config[config] += signals * price[SIGNALS]
        by_vehicle[vin] += signals
    usage.signal_cost_by_config = dict(sorted(by_config.items(), key=lambda item: -item[1]))
    usage.busiest = sorted(by_vehicle.items(), key=lambda item: -item[1])[:10]
    by_field: dict[str, int] = defaultdict(int)
    for _day, name, signals in sources.field_days(usage.month, today):
        by_field[name] += signals
    usage.busiest_fields = [
        (name, n, n * price[SIGNALS])
        for name, n in sorted(by_field.items(), key=lambda item: (-item[1], item[0]))[:10]
    ]
    by_category: dict[str, Decimal] = defaultdict(Decimal)
    calls: dict[str, int] = defaultdict(int)
    for day, counts in sorted(days.items()):
        usage.days[day] = dict(counts)
        cost = Decimal(0)
        for category, n in counts.items():
            cost += n * price.get(category, Decimal(0))
            by_category[category] += n * price.get(category, Decimal(0))
            calls[category] += n
        usage.cost_by_day[day] = cost
    usage.cost_by_region = dict(sorted(by_region.items()))
    usage.cost_by_category = {c: by_category[c] for c in (*REQUEST_CATEGORIES, SIGNALS)}
    usage.calls_by_category = {c: calls[c] for c in (*REQUEST_CATEGORIES, SIGNALS)}
    usage.month_to_date = sum(usage.cost_by_day.values(), Decimal(0))
    usage.projected = _projected(usage.month_to_date, now)
    return usage


def _projected(month_to_date: Decimal, now: dt.datetime) -> Decimal:
    """Month to date scaled to the whole month by the time elapsed (UTC)."""
    now = now.astimezone(dt.UTC)
    start = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
    length = calendar.monthrange(now.year, now.month)[1] * 86400
    elapsed = max((now - start).total_seconds(), 3600.0)  # no wild guess in the first hour
    return month_to_date * Decimal(length) / Decimal(elapsed)


def _state() -> UsageState:
    return UsageState.objects.get_or_create(pk=1)[0]


def optional_work_paused(*, now: dt.datetime | None = None) -> bool:
    """Above the budget this month (found by the last check): the scheduled vehicle sync and
    the reconcile sweep wait; token refresh and what people ask for go on."""
    today = (now or timezone.now()).astimezone(dt.UTC).date()
    return UsageState.objects.filter(pk=1, over_budget_month=month_start(today)).exists()


def usage_budget_check(*, now: dt.datetime | None = None) -> Decimal:
    """Compare the month's estimated usage with the budget: email staff at 80 % and 100 %
    (once each per month), and pause optional work above it. Returns the month to date."""
    now = now or timezone.now()
    usage = usage_month(now=now)
    month, limit, spent = usage.month, budget(), usage.month_to_date
    _state()
    rows = UsageState.objects.filter(pk=1)
    over = limit > 0 and spent >= limit
    # Pause (or lift the pause, after the budget was raised) for this month.
    rows.update(over_budget_month=month if over else None)
    for share, column in ((100, "warned_100_month"), (80, "warned_80_month")):
        if limit <= 0 or spent * 100 < limit * share:
            continue
        # Two checks at once (a re-queued beat): only the one whose conditional update
        # changed the row sends the email.
        if rows.exclude(**{column: month}).update(**{column: month}):
            _warn(share=share, spent=spent, limit=limit, projected=usage.projected)
        break  # 100 % was told: the 80 % email is not sent after it
    return spent


def _warn(*, share: int, spent: Decimal, limit: Decimal, projected: Decimal) -> None:
    recipients = list(
        staff_holding(VIEW_USAGE)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )
    if not recipients:
        return
    context = {
        "share": share,
        "spent": spent.quantize(CENT),
        "limit": limit.quantize(CENT),
        "projected": projected.quantize(CENT),
        "url": settings.PORTAL_PUBLIC_URL.rstrip("/") + reverse("usage:overview"),
    }
    send_bilingual_mail("usage/email/budget", context, recipients)


def usage_resume(*, user) -> bool:
    """Staff resume Fleet API calls after EXCEEDED_LIMIT (they sorted the billing out with
    Tesla). Returns whether calls were stopped."""
    recorder.flush()  # a stop this process saw and has not written yet
    now = timezone.now()
    state = _state()
    was = state.exceeded_at is not None and (
        state.resumed_at is None or state.resumed_at < state.exceeded_at
    )
    UsageState.objects.filter(pk=1).update(resumed_at=now, resumed_by=user)
    recorder.resumed()
    return was
