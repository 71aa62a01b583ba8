from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import TeslaLink
from accounts.tests import tesla_flow


def linked(client: Client, email: str, provider: str = "tesla") -> TeslaLink:
    """Link a sandbox Tesla account for the logged-in client through the real OAuth flow."""
    response = tesla_flow.link(client, email, provider)
    assert response.status_code == 200
    return TeslaLink.objects.filter(email=email).get()


@pytest.fixture
def alice_link(owner_client, tesla_apps) -> TeslaLink:
    """The owner has linked alice@example.com (five NA cars, one asleep, one shared)."""
    return linked(owner_client, "alice@example.com")


@pytest.fixture
def other_client(other_user) -> Client:
    client = Client()
    client.force_login(other_user)
    return client
