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


def test_the_usage_page_lists_the_busiest_fields_this_month(client, staff_with, settings):
    from telemetry.models import StreamFieldDay

    settings.USAGE_RATES = {**settings.USAGE_RATES, "signals": "1/150000"}
    today = timezone.now().astimezone(dt.UTC).date()
    last_month = today.replace(day=1) - dt.timedelta(days=1)
    StreamFieldDay.objects.create(day=today, field="VehicleSpeed", signals=300_000)
    StreamFieldDay.objects.create(day=today, field="Soc", signals=150_000)
    StreamFieldDay.objects.create(day=last_month, field="Odometer", signals=9_000_000)
    for n in range(11):  # thirteen fields this month: the three quietest are left out
        StreamFieldDay.objects.create(day=today, field=f"Quiet{n:02}", signals=n + 1)
    client.force_login(staff_with("usage.view_usage"))
    html = client.get(reverse("usage:overview")).content.decode()
    start = html.index('<table id="usage-fields"')
    table = html[start : html.index("</table>", start)]
    assert 'aria-labelledby="usage-fields-title"' in table
    rows = table.split('<th scope="row">')[1:]
    assert len(rows) == 10
    assert "<code>VehicleSpeed</code></th><td>300000</td><td>2.0000</td>" in rows[0]
    assert "<code>Soc</code></th><td>150000</td><td>1.0000</td>" in rows[1]
    assert "Odometer" not in table  # last month
    assert [f"Quiet{n:02}" in table for n in range(11)] == [False] * 3 + [True] * 8
    client.cookies["django_language"] = "zh-hans"
    zh = client.get(reverse("usage:overview"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'id="usage-fields"' in zh and "信号最多的字段" in zh
