"""Refresh-token rotation and chain killing (§2.4 emulator rules)."""

from __future__ import annotations

import requests

from sandbox.tests.helpers import TIMEOUT, api, client, login, refresh

DAY = 86400


def _assert_login_required(resp):
    assert resp.status_code == 401
    body = resp.json()
    assert body["error"] == "login_required"
    assert body["error_description"] == "Login required"
    assert body["referenceID"]


def test_every_refresh_returns_a_new_refresh_token_with_the_region_prefix(sandbox):
    first = login(sandbox, user="erika@example.de")["refresh_token"]
    second = refresh(sandbox, first).json()
    third = refresh(sandbox, second["refresh_token"]).json()
    tokens = {first, second["refresh_token"], third["refresh_token"]}
    assert len(tokens) == 3
    assert all(t.startswith("EU_") for t in tokens)
    assert second["expires_in"] == 28800 and second["access_token"]


def test_most_recently_used_token_works_within_grace_and_gives_a_new_pair(sandbox):
    used = login(sandbox)["refresh_token"]
    first = refresh(sandbox, used).json()
    sandbox.control.advance_clock(23 * 3600)
    again = refresh(sandbox, used)
    assert again.status_code == 200
    assert again.json()["refresh_token"] not in (used, first["refresh_token"])
    assert again.json()["access_token"] != first["access_token"]


def test_older_token_in_the_chain_is_login_required(sandbox):
    oldest = login(sandbox)["refresh_token"]
    middle = refresh(sandbox, oldest).json()["refresh_token"]
    refresh(sandbox, middle)
    _assert_login_required(refresh(sandbox, oldest))


def test_used_token_fails_after_24_hours(sandbox):
    used = login(sandbox)["refresh_token"]
    newest = refresh(sandbox, used).json()["refresh_token"]
    sandbox.control.advance_clock(DAY + 1)
    _assert_login_required(refresh(sandbox, used))
    assert refresh(sandbox, newest).status_code == 200


def test_newest_token_fails_after_90_days(sandbox):
    newest = login(sandbox)["refresh_token"]
    sandbox.control.advance_clock(90 * DAY + 1)
    _assert_login_required(refresh(sandbox, newest))


def test_unused_token_replaced_by_a_grace_refresh_is_dead(sandbox):
    used = login(sandbox)["refresh_token"]
    cycled_out = refresh(sandbox, used).json()["refresh_token"]
    refresh(sandbox, used)  # grace re-presentation mints a newer token
    _assert_login_required(refresh(sandbox, cycled_out))


def test_password_reset_kills_the_chain_and_its_access_tokens(sandbox, registered):
    tokens = login(sandbox)
    sandbox.control.reset_password("alice@example.com")
    _assert_login_required(refresh(sandbox, tokens["refresh_token"]))
    resp = api(sandbox, "na", "GET", "/api/1/users/me", tokens["access_token"])
    assert resp.status_code == 401


def test_consent_revocation_kills_the_chain(sandbox):
    tokens = login(sandbox)
    sandbox.control.revoke_consent("alice@example.com", client(sandbox)["client_id"])
    _assert_login_required(refresh(sandbox, tokens["refresh_token"]))


def test_refresh_revokes_the_previous_access_token_by_default(sandbox, registered):
    # Stricter reading of the 2024-02-01 announcement (§2.4, README).
    tokens = login(sandbox)
    newer = refresh(sandbox, tokens["refresh_token"]).json()
    assert api(sandbox, "na", "GET", "/api/1/users/me", tokens["access_token"]).status_code == 401
    assert api(sandbox, "na", "GET", "/api/1/users/me", newer["access_token"]).status_code == 200


def test_refresh_with_another_clients_id_is_login_required(sandbox):
    tokens = login(sandbox)
    other = sandbox.control.register_client(server="global")
    resp = requests.post(
        f"{sandbox.issuer()}/token",
        data={
            "grant_type": "refresh_token",
            "client_id": other["client_id"],
            "refresh_token": tokens["refresh_token"],
        },
        timeout=TIMEOUT,
    )
    _assert_login_required(resp)


def test_consent_revocation_kills_access_tokens_too(sandbox, registered):
    tokens = login(sandbox)
    assert api(sandbox, "na", "GET", "/api/1/users/me", tokens["access_token"]).status_code == 200
    sandbox.control.revoke_consent("alice@example.com", client(sandbox)["client_id"])
    resp = api(sandbox, "na", "GET", "/api/1/users/me", tokens["access_token"])
    assert resp.status_code == 401


def test_refresh_access_tokens_stay_valid_when_revocation_is_switched_off(sandbox, registered):
    sandbox.control.settings(revoke_access_on_refresh=False)
    tokens = login(sandbox)
    refresh(sandbox, tokens["refresh_token"])
    assert api(sandbox, "na", "GET", "/api/1/users/me", tokens["access_token"]).status_code == 200
