from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from usage.models import ApiCallDay

pytestmark = pytest.mark.django_db


def test_the_usage_page_needs_its_permission(client, staff_with):
    url = reverse("usage:overview")
    assert client.get(url).status_code == 302
    client.force_login(staff_with("telemetry.manage_telemetry"))
    assert client.get(url).status_code == 403
    assert client.post(reverse("usage:resume")).status_code == 403


def test_the_usage_page_charts_cost_per_day_category_and_region(client, staff_with, settings):
    settings.USAGE_RATES = {**settings.USAGE_RATES, "data": "1/500", "wakes": "1/50"}
    today = timezone.now().astimezone(dt.UTC).date()
    ApiCallDay.objects.create(day=today, region="NA", category="data", billed=True, calls=500)
    ApiCallDay.objects.create(day=today, region="EU", category="wakes", billed=True, calls=50)
    ApiCallDay.objects.create(day=today, region="EU", category="data", billed=False, calls=3)
    client.force_login(staff_with("usage.view_usage"))
    html = client.get(reverse("usage:overview")).content.decode()
    for chart in ("usage-days", "usage-categories", "usage-regions"):
        assert f'id="{chart}"' in html
    assert html.count('class="bar"') == 1 + 6 + 2  # a day, six categories, two regions
    assert 'aria-label="NA: 1.0000"' in html and 'aria-label="EU: 1.0000"' in html
    assert "2.00 USD" in html  # month to date
    client.cookies["django_language"] = "zh-hans"
    zh = client.get(reverse("usage:overview"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "用量" in zh
