"""The dashboard tells an owner one truth per link, in words (issue 16, item 11)."""

from __future__ import annotations

import pytest

from accounts.tests import tesla_flow

pytestmark = pytest.mark.django_db


def test_a_link_missing_scopes_is_not_also_announced_as_connected(owner_client, tesla_apps):
    response = tesla_flow.link(
        owner_client, "alice@example.com", granted=["openid", "offline_access"]
    )

    body = response.content.decode()
    assert "needs to be linked again" in body
    assert "connected" not in " ".join(tesla_flow.messages_of(response)).lower()


def test_owners_see_health_in_words_and_token_details_behind_a_disclosure(owner_client, tesla_apps):
    response = tesla_flow.link(owner_client, "alice@example.com")

    body = response.content.decode()
    assert "The portal can act for this account." in body
    start = body.index("<details>")
    details = body[start : body.index("</details>", start)]
    assert "Access token expires" in details and "vehicle_device_data" in details
    before = body[body.index("<table") : start]
    assert "Access token expires" not in before and "vehicle_device_data" not in before
