"""The field catalogue (#16 item 4): descriptions in both languages, units, firmware, presets
and the signals-per-day estimate, on the builder with and without JavaScript."""

from __future__ import annotations

import re

import pytest
from django.http import QueryDict
from django.utils import translation

from telemetry import catalogue
from telemetry.forms import preset_field_data
from telemetry.models import TelemetryConfig
from telemetry.tests.factories import make_config
from telemetry.tests.test_views import builder_post

CJK = re.compile(r"[\u4e00-\u9fff]")
VERSION = re.compile(r"20\d\d\.\d+(\.\d+)*( / 20\d\d\.\d+(\.\d+)*)?")


# --- completeness ---------------------------------------------------------------------------


def test_every_signal_has_a_description_in_both_languages_and_a_unit_or_unknown():
    described = catalogue.details()
    assert set(described) == catalogue.signal_names()  # no signal missing, no stray row
    for name, info in described.items():
        assert info.description_en.strip(), f"{name}: no English description"
        assert CJK.search(info.description_zh_hans), f"{name}: no Chinese description"
        assert info.unit in catalogue.UNITS, f"{name}: unit {info.unit!r} is not a UNITS key"
        assert info.min_firmware == catalogue.UNKNOWN_FIRMWARE or VERSION.fullmatch(
            info.min_firmware
        ), f"{name}: firmware {info.min_firmware!r}"


def test_firmware_minima_are_the_ones_tesla_names_and_unknown_elsewhere():
    firmware = {name: d.min_firmware for name, d in catalogue.details().items()}
    assert firmware["DetailedChargeState"] == "2024.38"
    assert firmware["RouteLine"] == "2024.26"
    assert firmware["ChargerVoltage"] == "2024.44.32 / 2024.45.32"
    assert firmware["LightsHazardsActive"] == "2025.2.6"
    assert firmware["SelfDrivingMilesSinceReset"] == "2025.44.25.5"
    assert firmware["Soc"] == catalogue.UNKNOWN_FIRMWARE


def test_descriptions_and_units_follow_the_language():
    soc = catalogue.details_for("Soc")
    with translation.override("zh-hans"):
        assert soc.description == "电池管理系统报告的荷电状态。"
        assert catalogue.details_for("Odometer").unit_label == "英里"
        assert catalogue.details_for("IsolationResistance").unit_label == "未知"
    with translation.override("en"):
        assert soc.description.startswith("State of charge")
        assert catalogue.details_for("Odometer").unit_label == "miles"


# --- presets --------------------------------------------------------------------------------


def test_the_three_asked_for_presets_exist_and_name_only_catalogue_fields_once():
    assert {"charging", "driving", "teslamate"} <= {p.key for p in catalogue.PRESETS}
    for preset in catalogue.PRESETS:
        names = [row.name for row in preset.rows]
        assert len(names) == len(set(names)), preset.key
        assert set(names) <= catalogue.signal_names(), preset.key
        assert all(row.interval_seconds >= 1 for row in preset.rows)
    teslamate = {row.name for row in catalogue.preset("teslamate").rows}
    assert {"Location", "VehicleSpeed", "Odometer", "BatteryLevel", "InsideTemp"} <= teslamate
    assert {"PackVoltage", "PackCurrent", "DetailedChargeState", "OutsideTemp"} <= teslamate


@pytest.mark.django_db
@pytest.mark.parametrize("key", [p.key for p in catalogue.PRESETS])
def test_each_preset_saves_through_the_builders_validation(manager_client, partner_domain, key):
    preset = catalogue.preset(key)
    data = preset_field_data(_query(builder_post()), preset=preset)
    response = manager_client.post("/telemetry/new/", data)
    errors = re.findall(r'class="error"[^>]*>[^<]*', response.content.decode())
    assert response.status_code == 302, errors
    config = TelemetryConfig.objects.get()
    saved = {f.name: (f.interval_seconds, f.keep_history) for f in config.fields.all()}
    assert saved == {r.name: (r.interval_seconds, r.keep_history) for r in preset.rows}


# --- the estimate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "hours", "expected"),
    [
        ([], 24, 0),
        ([(60, None)], 24, 1_440),
        ([(60, None), (10, None)], 24, 1_440 + 8_640),
        ([(60, 30)], 24, 2_880),  # a shorter resend interval counts instead
        ([(10, 60)], 24, 8_640),  # a longer one changes nothing
        ([(7, None)], 24, 12_343),  # 86,400 / 7 = 12,342.9, rounded up: an upper bound
        ([(60, None), (5, None)], 2, 120 + 1_440),
        ([(3600, None)], 0.5, 1),
    ],
)
def test_signals_per_day(rows, hours, expected):
    assert catalogue.signals_per_day(rows, hours=hours) == expected


def test_the_default_is_a_whole_day():
    assert catalogue.signals_per_day([(1, None)]) == 86_400


# --- the builder without JavaScript ---------------------------------------------------------


def _query(data: dict) -> QueryDict:
    query = QueryDict(mutable=True)
    for key, value in data.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    return query


def _apply(client, url, preset, **overrides):
    data = builder_post(apply_preset="1", preset=preset, **overrides)
    return client.post(url, data)


@pytest.mark.django_db
def test_apply_preset_without_javascript_fills_the_rows_and_keeps_the_typed_server_part(
    manager_client, partner_domain
):
    # The editor typed a host but no name yet, then chose a preset.
    response = _apply(manager_client, "/telemetry/new/", "charging", name="")
    page = response.content.decode()
    assert response.status_code == 200
    assert not TelemetryConfig.objects.exists()  # nothing saved
    assert 'value="telemetry.example.com"' in page and 'value="4443"' in page
    assert "This field is required" not in page  # not judged: only a preset was applied
    for row in catalogue.preset("charging").rows:
        assert f'value="{row.name}"' in page
    assert 'name="fields-0-name" value="DetailedChargeState"' in page
    # The rows the editor had typed (Soc, ChargerVoltage) gave way to the preset's.
    assert page.count('-name" value="') == len(catalogue.preset("charging").rows)
    # The estimate, server-rendered for the preset's rows.
    expected = catalogue.signals_per_day(
        [(r.interval_seconds, None) for r in catalogue.preset("charging").rows]
    )
    assert f'id="estimate-ceiling" data-hours="24">{expected:,}<' in page
    assert '<option value="charging" selected>' in page


@pytest.mark.django_db
def test_apply_preset_on_a_saved_config_marks_the_rows_it_does_not_name_for_removal(
    manager_client, partner_domain
):
    config = make_config(fields={"Soc": 60, "Version": 60})
    rows = {f.name: f for f in config.fields.all()}
    posted = builder_post(
        **{
            "fields-TOTAL_FORMS": "2",
            "fields-INITIAL_FORMS": "2",
            "fields-0-id": str(rows["Soc"].pk),
            "fields-0-name": "Soc",
            "fields-0-interval_seconds": "60",
            "fields-1-id": str(rows["Version"].pk),
            "fields-1-name": "Version",
            "fields-1-interval_seconds": "60",
        }
    )
    posted.pop("fields-1-minimum_delta")
    data = preset_field_data(_query(posted), preset=catalogue.preset("charging"))
    assert data["fields-0-name"] == "Soc" and "fields-0-DELETE" not in data
    assert data["fields-1-name"] == "Version" and data["fields-1-DELETE"] == "on"
    response = manager_client.post(
        f"/telemetry/{config.pk}/edit/", {**posted, "apply_preset": "1", "preset": "charging"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'name="fields-1-DELETE" id="id_fields-1-DELETE" checked', page)
    # Saving what the page now holds gives exactly the preset's fields.
    manager_client.post(f"/telemetry/{config.pk}/edit/", data)
    names = set(config.fields.values_list("name", flat=True))
    assert names == {r.name for r in catalogue.preset("charging").rows}


@pytest.mark.django_db
def test_an_unknown_preset_is_refused_with_the_rows_kept(manager_client, partner_domain):
    response = _apply(manager_client, "/telemetry/new/", "everything")
    page = response.content.decode()
    assert response.status_code == 400
    assert "Select a valid choice" in page and 'value="ChargerVoltage"' in page


@pytest.mark.django_db
def test_enter_in_a_text_box_saves_rather_than_applying_a_preset(manager_client, partner_domain):
    page = manager_client.get("/telemetry/new/").content.decode()
    first_submit = re.search(r"<button type=\"submit\"[^>]*>", page).group(0)
    assert 'name="apply_preset"' not in first_submit


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "battery", "odometer"),
    [
        ("en", "Battery level shown to the driver.", "Odometer reading. (miles)"),
        ("zh-hans", "向驾驶员显示的电量。", "里程表读数。 (英里)"),
    ],
)
def test_the_builder_rows_and_catalogue_describe_each_field_in_the_language(
    manager_client, partner_domain, language, battery, odometer
):
    manager_client.cookies["django_language"] = language
    page = manager_client.get("/telemetry/new/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    row = re.search(r'value="BatteryLevel".*?class="field-info"[^>]*>(.*?)</small>', page, re.S)
    assert battery in row.group(1) and " %" in row.group(1)
    assert f'<small id="about-Odometer" class="catalogue-about">{odometer}</small>' in page
