from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiCallDay(models.Model):
    """Fleet API requests the portal made on one UTC day, by region, category and whether
    Tesla bills them (an answer below 500, §4.5). Written by usage.recorder's flush."""

    day = models.DateField(_("day"))
    region = models.CharField(_("region"), max_length=8)
    category = models.CharField(_("category"), max_length=24)
    billed = models.BooleanField(_("billed"))
    calls = models.PositiveBigIntegerField(_("calls"), default=0)

    class Meta:
        verbose_name = _("Fleet API calls per day")
        verbose_name_plural = _("Fleet API calls per day")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "region", "category", "billed"], name="usage_call_day_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.region} {self.category} billed={self.billed}: {self.calls}"


class UsageState(models.Model):
    """The one row (pk=1) of usage state: Tesla's stop, staff's resume, and which budget
    warnings went out this month. Months are stored as their first day (UTC)."""

    exceeded_at = models.DateTimeField(_("Tesla answered EXCEEDED_LIMIT at"), null=True)
    exceeded_detail = models.CharField(_("Tesla's answer"), max_length=300, blank=True)
    resumed_at = models.DateTimeField(_("resumed at"), null=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    warned_80_month = models.DateField(null=True)
    warned_100_month = models.DateField(null=True)
    over_budget_month = models.DateField(null=True)

    class Meta:
        default_permissions = ()
        permissions = [("view_usage", _("Can see usage and cost, and resume Fleet API calls"))]

    def __str__(self) -> str:
        return "usage state"
