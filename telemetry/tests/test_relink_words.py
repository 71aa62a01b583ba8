"""A push that failed because the owner's link needs a relink is stored as a code and worded
when shown, in the reader's language: the config page, its live status, the error inbox and
the owner's vehicle page. Failures stored as English sentences before read the same."""

from __future__ import annotations

import pytest

from accounts import reasons
from telemetry import services
from telemetry.models import TelemetryDeployment, TelemetryRun
from telemetry.tests.factories import make_config
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db

CODE = reasons.needs_relink(reasons.missing_scopes(["offline_access"]))
LEGACY = "The Tesla account needs a relink: missing scopes: offline_access"
WORDS_ZH = "该特斯拉账户需要重新关联。特斯拉未授予门户所需的全部权限（缺少：offline_access）"


@pytest.fixture(params=[CODE, LEGACY], ids=["code", "legacy"])
def failed(request, owner):
    car = make_vehicles(make_link(owner), 1)[0]
    config = make_config(name="Charging")
    services.telemetry_config_assign(config=config, vins=[car.vin], user=None)
    version = services.telemetry_version_current(config=config)
    run = TelemetryRun.objects.create(
        config=config, version=version, status=TelemetryRun.Status.DONE, total=1
    )
    TelemetryDeployment.objects.create(
        vehicle=car, version=version, run=run, status="failed", error=request.param
    )
    return config, run, car, request.param


def _zh(client, path: str) -> str:
    client.cookies["django_language"] = "zh-hans"
    return client.get(path).content.decode()


def test_the_config_page_and_the_error_inbox_word_it_in_chinese(manager_client, failed):
    config, _run, _car, stored = failed
    for path in (f"/telemetry/{config.pk}/", "/telemetry/errors/"):
        page = _zh(manager_client, path)
        assert WORDS_ZH in page, path
        assert stored not in page, path


def test_the_live_status_words_it_in_chinese(manager_client, failed):
    _config, run, car, _stored = failed
    manager_client.cookies["django_language"] = "zh-hans"
    data = manager_client.get(f"/telemetry/runs/{run.pk}/status/").json()
    (vehicle,) = data["vehicles"]
    assert vehicle["error"].startswith(WORDS_ZH)


def test_the_owners_vehicle_page_words_it_in_chinese(owner_client, failed):
    _config, _run, car, stored = failed
    page = _zh(owner_client, f"/vehicles/{car.pk}/")
    assert WORDS_ZH in page and stored not in page


def test_tesla_s_own_error_text_is_shown_as_stored(manager_client, owner):
    car = make_vehicles(make_link(owner), 1)[0]
    config = make_config(name="Charging")
    services.telemetry_config_assign(config=config, vins=[car.vin], user=None)
    version = services.telemetry_version_current(config=config)
    TelemetryDeployment.objects.create(
        vehicle=car, version=version, status="failed", error="412 not registered in region"
    )
    assert "412 not registered in region" in _zh(manager_client, f"/telemetry/{config.pk}/")


def test_the_staff_vehicle_page_words_the_recorded_error_in_chinese(manager_client, failed):
    _config, _run, car, stored = failed
    page = _zh(manager_client, f"/telemetry/vehicles/{car.pk}/")
    assert WORDS_ZH in page and stored not in page
