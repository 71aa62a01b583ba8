from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.tests.factories import UserFactory


@pytest.fixture
def manager(db):
    """Staff holding telemetry.manage_telemetry: builds, assigns, pushes, removes."""
    user = UserFactory(email="manager@example.com", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="manage_telemetry"))
    return user


@pytest.fixture
def manager_client(manager) -> Client:
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def partner_domain(settings):
    """Production rules, with a partner domain whose root the config hosts share."""
    settings.TESLA_ENV = "production"
    settings.TESLA_PARTNER_DOMAIN = "portal.example.com"
    return "example.com"


@pytest.fixture
def portal_key(settings, tesla_apps, _partner_key_server):
    """The portal signs with the key Tesla (the sandbox) holds for the registered domain.

    `tesla_apps` registers the partner with the key server's key; importing that same private
    key makes the portal's key the registered one, so pairing it on a car works end to end.
    """
    from cryptography.hazmat.primitives import serialization

    from partners import services as partner_services

    settings.TESLA_PRIVATE_KEY_FILE = ""
    settings.TESLA_PARTNER_DOMAIN = _partner_key_server.domain
    pem = _partner_key_server.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    partner_services.partner_key_import(pem=pem, force=True)
    return _partner_key_server


@pytest.fixture
def alice(owner_client, tesla_apps, portal_key):
    """The owner linked alice@example.com (five NA cars) and synced them."""
    from vehicles import services as vehicle_services
    from vehicles.tests.conftest import linked

    link = linked(owner_client, "alice@example.com")
    vehicle_services.vehicles_sync(link_id=link.pk)
    return link
