"""Two staff editing one config: the second save never undoes the first, and never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from telemetry.models import TelemetryConfig
from telemetry.tests.factories import make_config
from telemetry.tests.test_views import builder_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_manager_client(manager) -> Client:
    client = Client()
    client.force_login(manager)
    return client


def _edit_post(config: TelemetryConfig, *, revision: str | None, add: str, **overrides) -> dict:
    """The builder's POST for the config as it was opened, with one new field row."""
    rows = list(config.fields.order_by("name"))
    data = builder_post(
        **{
            "name": config.name,
            "port": str(config.port),
            "fields-TOTAL_FORMS": str(len(rows) + 1),
            "fields-INITIAL_FORMS": str(len(rows)),
        }
    )
    for key in [k for k in data if k.startswith("fields-") and k[7].isdigit()]:
        del data[key]
    for i, row in enumerate(rows):
        data[f"fields-{i}-id"] = str(row.pk)
        data[f"fields-{i}-name"] = row.name
        data[f"fields-{i}-interval_seconds"] = str(row.interval_seconds)
    data[f"fields-{len(rows)}-name"] = add
    data[f"fields-{len(rows)}-interval_seconds"] = "60"
    if revision is not None:
        data["revision"] = revision
    data.update(overrides)
    return data


def _opened_revision(client: Client, config: TelemetryConfig) -> str:
    response = client.get(f"/telemetry/{config.pk}/edit/")
    assert response.status_code == 200
    return response.context["form"]["revision"].value()


def test_a_save_over_a_newer_save_is_refused_and_keeps_what_was_typed(
    manager_client, second_manager_client, partner_domain
):
    config = make_config(fields={"Soc": 60})
    first = _opened_revision(manager_client, config)
    second = _opened_revision(second_manager_client, config)
    assert first and first == second

    saved = second_manager_client.post(
        f"/telemetry/{config.pk}/edit/",
        _edit_post(config, revision=second, add="Odometer", port="5000"),
    )
    assert saved.status_code == 302

    refused = manager_client.post(
        f"/telemetry/{config.pk}/edit/",
        _edit_post(config, revision=first, add="VehicleSpeed", port="6000"),
    )

    assert refused.status_code == 400
    assert "Someone else saved this configuration" in refused.content.decode()
    config.refresh_from_db()
    # The other editor's save stands whole; nothing of the refused one was written.
    assert config.port == 5000
    assert sorted(config.fields.values_list("name", flat=True)) == ["Odometer", "Soc"]
    # What this editor typed is still in the form, with the revision they have now seen.
    form = refused.context["form"]
    assert form["port"].value() == "6000"
    assert form["revision"].value() != first
    assert 'value="VehicleSpeed"' in refused.content.decode()


def test_the_same_field_added_by_two_editors_at_once_is_a_form_error_not_a_500(
    manager_client, partner_domain
):
    config = make_config(fields={"Soc": 60})
    opened = _edit_post(config, revision=None, add="Odometer")
    # A POST without a revision (a page from before this check, a script) skips the revision
    # check; the other editor's row lands before it is saved, and the database refuses it.
    config.fields.create(name="Odometer", interval_seconds=30)

    response = manager_client.post(f"/telemetry/{config.pk}/edit/", opened)

    assert response.status_code == 400
    assert "at the same moment" in response.content.decode()
    assert list(
        config.fields.filter(name="Odometer").values_list("interval_seconds", flat=True)
    ) == [30]
    assert config.versions.count() == 0
