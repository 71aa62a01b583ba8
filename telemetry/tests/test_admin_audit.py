"""The admin validates like the builder; the audit log is append-only everywhere."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from telemetry.models import TelemetryAuditEntry, TelemetryConfig
from telemetry.tests.factories import ca, make_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


def admin_post(**overrides) -> dict:
    exp = timezone.now() + dt.timedelta(days=30)
    data = {
        "name": "fleet",
        "hostname": "telemetry.example.com",
        "port": "4443",
        "ca": ca(),
        "exp": exp.strftime("%Y-%m-%dT%H:%M"),
        "delivery_policy": "latest",
        "alert_types": ["service"],
        "prefer_typed": "on",
        "fields-TOTAL_FORMS": "1",
        "fields-INITIAL_FORMS": "0",
        "fields-MIN_NUM_FORMS": "0",
        "fields-MAX_NUM_FORMS": "1000",
        "fields-0-name": "Soc",
        "fields-0-interval_seconds": "60",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_admin_add_with_an_inline_field_makes_version_one_and_audits(
    admin_client, manager, partner_domain
):
    response = admin_client.post("/admin/telemetry/telemetryconfig/add/", admin_post())
    assert response.status_code == 302, response.content.decode()[:3000]
    config = TelemetryConfig.objects.get()
    assert config.versions.get().payload["fields"] == {"Soc": {"interval_seconds": 60}}
    assert TelemetryAuditEntry.objects.get().actor_email == manager.email


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hostname": "10.0.0.1"}, "An IP address is not accepted"),
        ({"fields-0-name": "Experimental_1"}, "Experimental_1 is a placeholder"),
        ({"fields-0-interval_seconds": "0"}, "at least 1"),
        ({"port": "70000"}, "from 1 to 65535"),
    ],
)
def test_admin_applies_the_same_validation(admin_client, partner_domain, overrides, message):
    response = admin_client.post("/admin/telemetry/telemetryconfig/add/", admin_post(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not TelemetryConfig.objects.exists()


def test_admin_needs_the_permission(staff_client):
    assert staff_client.get("/admin/telemetry/telemetryconfig/").status_code == 403


def test_audit_entries_are_shown_but_never_editable_or_deletable(admin_client, manager):
    config = make_config()
    entry = TelemetryAuditEntry.objects.create(
        actor=manager, actor_email=manager.email, action="pushed", config=config, config_name="x"
    )
    assert admin_client.get("/admin/telemetry/telemetryauditentry/").status_code == 200
    change = admin_client.get(f"/admin/telemetry/telemetryauditentry/{entry.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    response = admin_client.post(
        f"/admin/telemetry/telemetryauditentry/{entry.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert admin_client.get("/admin/telemetry/telemetryauditentry/add/").status_code == 403


def test_the_audit_log_refuses_updates_and_deletes_in_code(manager):
    entry = TelemetryAuditEntry.objects.create(actor_email="a@example.com", action="created")
    entry.outcome = "rewritten"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        TelemetryAuditEntry.objects.filter(pk=entry.pk).update(outcome="x")
    with pytest.raises(PermissionError):
        TelemetryAuditEntry.objects.all().delete()
    entry.refresh_from_db()
    assert entry.outcome == ""


def test_deleting_a_config_keeps_its_audit_trail(manager):
    config = make_config(name="gone soon")
    TelemetryAuditEntry.objects.create(
        actor_email="a@example.com", action="created", config=config, config_name=config.name
    )
    config.delete()
    entry = TelemetryAuditEntry.objects.get()
    assert entry.config is None and entry.config_name == "gone soon"


# --- one save for the builder and the admin ---------------------------------------------------


def test_admin_add_and_edit_go_through_the_builders_save(admin_client, manager, partner_domain):
    created = admin_client.post("/admin/telemetry/telemetryconfig/add/", admin_post())
    assert created.status_code == 302
    config = TelemetryConfig.objects.get()
    field = config.fields.get()

    edited = admin_client.post(
        f"/admin/telemetry/telemetryconfig/{config.pk}/change/",
        admin_post(
            port="5000",
            **{
                "fields-INITIAL_FORMS": "1",
                "fields-0-id": str(field.pk),
                "fields-0-config": str(config.pk),
            },
        ),
    )

    assert edited.status_code == 302, edited.content.decode()[:3000]
    config.refresh_from_db()
    assert config.created_by == manager and config.port == 5000
    assert list(config.versions.order_by("number").values_list("number", flat=True)) == [1, 2]
    actions = list(TelemetryAuditEntry.objects.order_by("pk").values_list("action", "outcome"))
    assert actions == [("created", "new version"), ("edited", "new version")]


def test_the_save_service_refuses_a_save_from_an_older_revision(manager, partner_domain):
    from telemetry import selectors, services
    from telemetry.forms import TelemetryConfigForm, field_formset

    config = make_config(fields={"Soc": 60})
    opened = selectors.config_revision(config)
    TelemetryConfig.objects.filter(pk=config.pk).update(updated_at=timezone.now())
    config.refresh_from_db()
    data = admin_post(name=config.name, port="6000")
    form = TelemetryConfigForm(data, instance=config)
    formset = field_formset(extra=0)(data, instance=config, prefix="fields")
    assert form.is_valid() and formset.is_valid(), (form.errors, formset.errors)

    with pytest.raises(services.StaleEdit):
        services.telemetry_config_save(form=form, formsets=[formset], user=manager, revision=opened)

    config.refresh_from_db()
    assert config.port != 6000 and not config.versions.exists()
    assert not TelemetryAuditEntry.objects.exists()


def test_admin_saves_keep_history_and_the_car_never_receives_it(admin_client, partner_domain):
    post = admin_post(**{"fields-0-keep_history": "on"})
    response = admin_client.post("/admin/telemetry/telemetryconfig/add/", post)
    assert response.status_code == 302, response.content.decode()[:3000]
    config = TelemetryConfig.objects.get()
    assert config.fields.get(name="Soc").keep_history is True
    assert config.versions.get().payload["fields"] == {"Soc": {"interval_seconds": 60}}
    # Unticked in an edit: saved too.
    change = f"/admin/telemetry/telemetryconfig/{config.pk}/change/"
    field = config.fields.get()
    post.update(
        {
            "fields-INITIAL_FORMS": "1",
            "fields-0-id": str(field.pk),
            "fields-0-config": str(config.pk),
            "fields-0-keep_history": "",
            "versions-TOTAL_FORMS": "0",
        }
    )
    del post["fields-0-keep_history"]
    assert admin_client.post(change, post).status_code == 302
    field.refresh_from_db()
    assert field.keep_history is False
