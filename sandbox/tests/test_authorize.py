"""Authorize page, consent form and callback (§1.2-1.4)."""

from __future__ import annotations

import requests

from sandbox.tests.helpers import (
    REDIRECT,
    TIMEOUT,
    authorize_params,
    client,
    consent,
)


def test_authorize_page_renders_consent_form_for_the_servers_users(sandbox):
    params = authorize_params(client(sandbox)["client_id"])
    resp = requests.get(f"{sandbox.issuer()}/authorize", params=params, timeout=TIMEOUT)
    assert resp.status_code == 200
    assert "alice@example.com" in resp.text
    assert "erika@example.de" in resp.text
    assert "wei@example.cn" not in resp.text  # CN users live on the cn server
    assert 'name="granted" value="vehicle_device_data"' in resp.text


def test_consent_redirects_with_code_state_locale_and_issuer(sandbox):
    query = consent(sandbox, user="erika@example.de")
    assert query["code"].startswith("EU_")
    assert query["state"] == "state-123"
    assert query["locale"] == "de-DE"
    assert query["issuer"] == sandbox.issuer("global")


def test_cn_consent_issues_cn_prefixed_code(sandbox):
    query = consent(sandbox, server="cn", user="wei@example.cn")
    assert query["code"].startswith("CN_")
    assert query["issuer"] == sandbox.issuer("cn")


def test_cancel_redirects_with_login_cancelled(sandbox):
    form = authorize_params(client(sandbox)["client_id"])
    form.update(user="alice@example.com", action="cancel")
    resp = requests.post(
        f"{sandbox.issuer()}/authorize", data=form, allow_redirects=False, timeout=TIMEOUT
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == (
        f"{REDIRECT}?error=login_cancelled&error_description=User%20cancelled%20login"
        "&state=state-123"
    )


def test_unregistered_redirect_uri_gets_teslas_400_body(sandbox):
    params = authorize_params(client(sandbox)["client_id"], redirect="https://evil.example/cb")
    resp = requests.get(f"{sandbox.issuer()}/authorize", params=params, timeout=TIMEOUT)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["message"] == (
        "We don't recognize this redirect URI/URL. Please use the redirect URI/URL found in "
        "your app details."
    )
    assert error["code"] == 400
    assert error["reason"] == "AuthorizationError"
    assert error["referenceID"]


def test_global_client_is_unknown_on_the_cn_server(sandbox):
    params = authorize_params(client(sandbox, "global")["client_id"])
    resp = requests.get(f"{sandbox.issuer('cn')}/authorize", params=params, timeout=TIMEOUT)
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == "client_not_found"


def test_plain_pkce_method_is_refused(sandbox):
    params = authorize_params(
        client(sandbox)["client_id"], code_challenge="abc", code_challenge_method="plain"
    )
    resp = requests.get(f"{sandbox.issuer()}/authorize", params=params, timeout=TIMEOUT)
    assert resp.status_code == 400


def test_oidc_metadata_points_at_jwks(sandbox):
    resp = requests.get(f"{sandbox.issuer()}/.well-known/openid-configuration", timeout=TIMEOUT)
    meta = resp.json()
    assert meta["issuer"] == sandbox.issuer()
    keys = requests.get(meta["jwks_uri"], timeout=TIMEOUT).json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["kid"]


def test_consent_for_a_user_of_the_other_server_is_refused(sandbox):
    form = authorize_params(client(sandbox)["client_id"])
    form.update(user="wei@example.cn", action="approve", granted=["openid"])
    resp = requests.post(
        f"{sandbox.issuer()}/authorize", data=form, allow_redirects=False, timeout=TIMEOUT
    )
    assert resp.status_code == 400
    assert "Choose a Tesla account" in resp.text


def test_require_requested_scopes_refuses_partial_consent(sandbox):
    form = authorize_params(client(sandbox)["client_id"], require_requested_scopes="true")
    form.update(user="alice@example.com", action="approve", granted=["openid"])
    resp = requests.post(
        f"{sandbox.issuer()}/authorize", data=form, allow_redirects=False, timeout=TIMEOUT
    )
    assert resp.status_code == 400
    assert "All requested scopes" in resp.text


def test_missing_state_is_refused(sandbox):
    params = authorize_params(client(sandbox)["client_id"])
    del params["state"]
    resp = requests.get(f"{sandbox.issuer()}/authorize", params=params, timeout=TIMEOUT)
    assert resp.status_code == 400
    assert resp.json()["error"]["reason"] == "AuthorizationError"


# The China workflow this project grew from (docs/tesla-api-notes.md) asks auth.tesla.cn for
# exactly these scopes, `vehicle_specs` included, and Tesla China answered with a code.
SEED_SCOPES = (
    "openid user_data vehicle_device_data vehicle_cmds vehicle_charging_cmds offline_access "
    "vehicle_location vehicle_specs"
)


def test_the_china_server_accepts_the_seed_workflows_exact_scope_list(sandbox):
    import jwt

    from sandbox.tests.helpers import exchange

    query = consent(sandbox, server="cn", user="wei@example.cn", scope=SEED_SCOPES)
    resp = exchange(sandbox, query["code"], server="cn")
    assert resp.status_code == 200, resp.text
    claims = jwt.decode(resp.json()["access_token"], options={"verify_signature": False})
    assert set(claims["scp"]) == set(SEED_SCOPES.split())
    config = requests.get(
        f"{sandbox.issuer('cn')}/.well-known/openid-configuration", timeout=TIMEOUT
    ).json()
    assert "vehicle_specs" in config["scopes_supported"]


def test_the_global_server_still_refuses_vehicle_specs_and_other_unknown_scopes(sandbox):
    for server, scope in (("global", "openid vehicle_specs"), ("cn", "openid vehicle_spec")):
        params = authorize_params(client(sandbox, server)["client_id"], scope=scope)
        if server == "cn":
            from sandbox.tests.helpers import CN_REDIRECT

            params["redirect_uri"] = CN_REDIRECT
        resp = requests.get(f"{sandbox.issuer(server)}/authorize", params=params, timeout=TIMEOUT)
        assert resp.status_code == 400, (server, resp.text)
        assert resp.json()["error"]["message"] == f"invalid scope: {scope.split()[1]}"
