"""Token endpoint: code exchange, errors, partner tokens (§2.1-2.5, §2.7)."""

from __future__ import annotations

import jwt
import requests

from sandbox.tests.helpers import (
    TIMEOUT,
    client,
    consent,
    exchange,
    pkce_pair,
)


def _jwks_key(sandbox, server="global"):
    meta = requests.get(
        f"{sandbox.issuer(server)}/.well-known/openid-configuration", timeout=TIMEOUT
    ).json()
    return jwt.PyJWKClient(meta["jwks_uri"])


def test_code_exchange_returns_rs256_jwt_with_teslas_claims(sandbox):
    query = consent(sandbox, user="alice@example.com")
    resp = exchange(sandbox, query["code"])
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 28800
    assert body["refresh_token"].startswith("NA_")
    assert body["id_token"]
    assert body["state"] == "state-123"

    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"]
    signing_key = _jwks_key(sandbox).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256"],
        audience=sandbox.fleet("na"),
        issuer=sandbox.issuer(),
        options={"verify_exp": False},
    )
    assert claims["azp"] == client(sandbox)["client_id"]
    assert claims["aud"] == [
        sandbox.fleet("na"),
        sandbox.fleet("eu"),
        f"{sandbox.issuer()}/userinfo",
    ]
    assert "vehicle_device_data" in claims["scp"]
    assert claims["ou_code"] == "NA"
    assert claims["locale"] == "en-US"
    assert claims["exp"] - claims["iat"] == 28800
    assert claims["auth_time"] <= claims["iat"]
    assert claims["sub"] != claims["azp"]


def test_no_refresh_token_without_offline_access(sandbox):
    query = consent(sandbox, scope="openid vehicle_device_data")
    body = exchange(sandbox, query["code"]).json()
    assert "refresh_token" not in body
    assert "id_token" in body


def test_only_ticked_scopes_are_granted(sandbox):
    query = consent(sandbox, granted=["openid", "vehicle_device_data"])
    body = exchange(sandbox, query["code"]).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["scp"] == ["openid", "vehicle_device_data"]


def test_cn_token_has_cn_audience_and_ou_code(sandbox):
    query = consent(sandbox, server="cn", user="wei@example.cn")
    body = exchange(sandbox, query["code"], server="cn").json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["ou_code"] == "CN"
    assert claims["aud"][0] == sandbox.fleet("cn")
    assert body["refresh_token"].startswith("CN_")


def test_code_cannot_be_reused(sandbox):
    code = consent(sandbox)["code"]
    assert exchange(sandbox, code).status_code == 200
    again = exchange(sandbox, code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_auth_code"


def test_code_expires_after_ten_minutes(sandbox):
    code = consent(sandbox)["code"]
    sandbox.control.advance_clock(601)
    resp = exchange(sandbox, code)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_auth_code"


def test_wrong_secret_is_unauthorized_client(sandbox):
    code = consent(sandbox)["code"]
    resp = exchange(sandbox, code, secret="nope")
    assert resp.status_code == 401
    body = resp.json()
    assert body["error"] == "unauthorized_client"
    assert body["error_description"] == (
        "We don't recognize this client_id and client_secret combination"
    )


def test_wrong_redirect_uri_is_invalid_redirect_url(sandbox):
    code = consent(sandbox)["code"]
    resp = exchange(sandbox, code, redirect="http://localhost:8000/accounts/tesla/login/callback/")
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_redirect_url"


def test_pkce_wrong_verifier_is_invalid_request(sandbox):
    verifier, challenge = pkce_pair()
    code = consent(sandbox, code_challenge=challenge)["code"]
    resp = exchange(sandbox, code, verifier="w" * 64)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"
    assert resp.json()["error_description"] == "Invalid code_verifier"


def test_pkce_right_verifier_without_method_defaults_to_s256(sandbox):
    verifier, challenge = pkce_pair()
    code = consent(sandbox, code_challenge=challenge)["code"]
    assert exchange(sandbox, code, verifier=verifier).status_code == 200


def test_missing_audience_is_invalid_request(sandbox):
    code = consent(sandbox)["code"]
    resp = exchange(sandbox, code, audience=None)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"
    assert "audience" in resp.json()["error_description"]


def test_audience_of_the_other_server_is_refused(sandbox):
    code = consent(sandbox)["code"]
    resp = exchange(sandbox, code, audience=sandbox.fleet("cn"))
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"


def test_unknown_grant_type(sandbox):
    resp = requests.post(
        f"{sandbox.issuer()}/token", data={"grant_type": "password"}, timeout=TIMEOUT
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "unsupported_grant_type"


def test_partner_token_has_client_as_subject(sandbox):
    creds = client(sandbox)
    resp = requests.post(
        f"{sandbox.issuer()}/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "audience": sandbox.fleet("eu"),
        },
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == creds["client_id"] == claims["azp"]
    assert claims["aud"][0] == sandbox.fleet("eu")


def test_partner_token_needs_audience_and_secret(sandbox):
    creds = client(sandbox)
    form = {"grant_type": "client_credentials", "client_id": creds["client_id"]}
    url = f"{sandbox.issuer()}/token"
    assert requests.post(url, data=form, timeout=TIMEOUT).status_code == 401
    form["client_secret"] = creds["client_secret"]
    resp = requests.post(url, data=form, timeout=TIMEOUT)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"


def test_request_log_counts_token_calls_without_tokens(sandbox):
    sandbox.control.clear_requests()
    code = consent(sandbox)["code"]
    exchange(sandbox, code)
    exchange(sandbox, code)
    calls = sandbox.control.requests(path="/token")
    assert [c["grant_type"] for c in calls] == ["authorization_code", "authorization_code"]
    assert [c["status"] for c in calls] == [200, 400]
    assert code not in str(sandbox.control.requests())


def test_id_token_is_signed_for_the_client_and_carries_the_nonce(sandbox):
    query = consent(sandbox, nonce="n-42")
    body = exchange(sandbox, query["code"]).json()
    key = _jwks_key(sandbox).get_signing_key_from_jwt(body["id_token"])
    claims = jwt.decode(
        body["id_token"],
        key.key,
        algorithms=["RS256"],
        audience=client(sandbox)["client_id"],
        options={"verify_exp": False},
    )
    assert claims["nonce"] == "n-42"
    assert claims["email"] == "alice@example.com"
