from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
import responses
from responses import matchers

from teslafleet import oauth
from teslafleet.errors import TransientError
from teslafleet.oauth import (
    OAuthError,
    PermanentOAuthError,
    TokenSet,
    TransientOAuthError,
    build_authorize_url,
    decode_claims,
    exchange_code,
    partner_token,
    pkce_pair,
    refresh,
)
from teslafleet.regions import PRODUCTION

GLOBAL = PRODUCTION.auth_server("global")
CHINA = PRODUCTION.auth_server("cn")
TOKEN_URL = GLOBAL.token_url
NA = "https://fleet-api.prd.na.vn.cloud.tesla.com"
EU = "https://fleet-api.prd.eu.vn.cloud.tesla.com"


def make_access_token(**overrides: object) -> str:
    claims: dict[str, object] = {
        "iss": "https://auth.tesla.com/oauth2/v3/nts",
        "azp": "client-123",
        "sub": "user-uuid-1",
        "aud": [NA, EU, "https://auth.tesla.com/oauth2/v3/userinfo"],
        "scp": ["openid", "offline_access", "vehicle_device_data"],
        "exp": 1716670965,
        "iat": 1716642165,
        "ou_code": "EU",
    }
    claims.update(overrides)
    # Any key: the portal never verifies the signature (see decode_claims).
    return jwt.encode(claims, "k" * 32, algorithm="HS256")


def token_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "access_token": make_access_token(),
        "refresh_token": "EU_refresh-2",
        "id_token": "id-token-jwt",
        "expires_in": 28800,
        "token_type": "Bearer",
        "scope": "openid offline_access vehicle_device_data",
    }
    body.update(overrides)
    return body


@pytest.fixture
def mocked():
    with responses.RequestsMock() as rsps:
        yield rsps


# --- authorize URL -----------------------------------------------------------------------


def test_authorize_url_carries_every_parameter():
    url = build_authorize_url(
        GLOBAL,
        client_id="client-123",
        redirect_uri="https://portal.example.com/accounts/tesla/login/callback/",
        scopes=["openid", "offline_access", "vehicle_device_data"],
        state="state-xyz",
        code_challenge="challenge-abc",
        prompt="login",
        prompt_missing_scopes=True,
        locale="de-DE",
        nonce="nonce-1",
    )

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == GLOBAL.authorize_url
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["client-123"],
        "redirect_uri": ["https://portal.example.com/accounts/tesla/login/callback/"],
        "scope": ["openid offline_access vehicle_device_data"],
        "state": ["state-xyz"],
        "code_challenge": ["challenge-abc"],
        "code_challenge_method": ["S256"],
        "prompt": ["login"],
        "prompt_missing_scopes": ["true"],
        "locale": ["de-DE"],
        "nonce": ["nonce-1"],
    }


def test_authorize_url_space_joins_scopes_as_percent_20():
    url = build_authorize_url(
        CHINA,
        client_id="c",
        redirect_uri="https://p.example/cb",
        scopes=("openid", "offline_access"),
        state="s",
        code_challenge="x",
    )

    assert url.startswith("https://auth.tesla.cn/oauth2/v3/authorize?")
    assert "scope=openid%20offline_access" in url
    query = parse_qs(urlsplit(url).query)
    assert query["prompt"] == ["login"]
    assert query["prompt_missing_scopes"] == ["false"]
    assert "locale" not in query and "nonce" not in query


def test_pkce_pair_challenge_is_s256_of_verifier():
    verifier, challenge = pkce_pair()

    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge == expected.decode()
    assert 43 <= len(verifier) <= 128
    assert pkce_pair()[0] != verifier


# --- token endpoint ----------------------------------------------------------------------


def test_code_exchange_posts_audience_redirect_secret_and_verifier_as_a_form(mocked):
    mocked.post(
        TOKEN_URL,
        json=token_body(),
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "grant_type": "authorization_code",
                    "client_id": "client-123",
                    "client_secret": "secret-456",
                    "code": "EU_code-1",
                    "audience": EU,
                    "redirect_uri": "https://portal.example.com/cb",
                    "code_verifier": "verifier-789",
                }
            )
        ],
    )

    tokens = exchange_code(
        GLOBAL,
        client_id="client-123",
        client_secret="secret-456",
        code="EU_code-1",
        redirect_uri="https://portal.example.com/cb",
        audience=EU,
        code_verifier="verifier-789",
    )

    request = mocked.calls[0].request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert tokens.refresh_token == "EU_refresh-2"
    assert tokens.expires_in == 28800
    assert tokens.claims.sub == "user-uuid-1"
    assert tokens.claims.ou_code == "EU"


def test_refresh_sends_no_secret_audience_or_scope_and_returns_the_rotated_pair(mocked):
    new_access = make_access_token(sub="user-uuid-1", iat=1716650000, exp=1716678800)
    mocked.post(
        TOKEN_URL,
        json=token_body(access_token=new_access, refresh_token="NA_refresh-3"),
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "grant_type": "refresh_token",
                    "client_id": "client-123",
                    "refresh_token": "NA_refresh-2",
                }
            )
        ],
    )

    tokens = refresh(GLOBAL, client_id="client-123", refresh_token="NA_refresh-2")

    assert tokens.access_token == new_access
    assert tokens.refresh_token == "NA_refresh-3"
    assert tokens.claims.iat == 1716650000


def test_partner_token_uses_client_credentials_with_default_scopes(mocked):
    mocked.post(
        CHINA.token_url,
        # China's partner answer omits `scope` and `refresh_token` (§7).
        json={"access_token": make_access_token(sub="client-123"), "expires_in": 28800},
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "grant_type": "client_credentials",
                    "client_id": "client-123",
                    "client_secret": "secret-456",
                    "audience": "https://fleet-api.prd.cn.vn.cloud.tesla.cn",
                    "scope": "openid vehicle_device_data vehicle_cmds vehicle_charging_cmds",
                }
            )
        ],
    )

    tokens = partner_token(
        CHINA,
        client_id="client-123",
        client_secret="secret-456",
        audience="https://fleet-api.prd.cn.vn.cloud.tesla.cn",
    )

    assert tokens.scope is None
    assert tokens.refresh_token is None
    assert tokens.token_type == "Bearer"
    assert tokens.claims.sub == "client-123"


def test_token_requests_send_the_portal_user_agent(mocked):
    mocked.post(TOKEN_URL, json=token_body())

    refresh(GLOBAL, client_id="c", refresh_token="NA_r")

    assert mocked.calls[0].request.headers["User-Agent"].startswith("FleetPortal/")
    assert mocked.calls[0].request.req_kwargs["timeout"] == (5, 20)


# --- error classification ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "error", "retry_after"),
    [
        (
            401,
            {"error": "login_required", "error_description": "Login required"},
            {},
            PermanentOAuthError,
            "login_required",
            None,
        ),
        (
            400,
            {"error": "invalid_auth_code", "error_description": "code expired"},
            {},
            PermanentOAuthError,
            "invalid_auth_code",
            None,
        ),
        (
            400,
            {"error": "unauthorized_client", "error_description": "We don't recognize"},
            {},
            PermanentOAuthError,
            "unauthorized_client",
            None,
        ),
        (
            400,
            {"error": "invalid_redirect_url"},
            {},
            PermanentOAuthError,
            "invalid_redirect_url",
            None,
        ),
        (400, {"error": "invalid_request"}, {}, PermanentOAuthError, "invalid_request", None),
        (403, {"error": "something_new"}, {}, PermanentOAuthError, "something_new", None),
        (
            429,
            {"error": "too_many_requests"},
            {"Retry-After": "37"},
            TransientOAuthError,
            "too_many_requests",
            37.0,
        ),
        (500, {"error": "server_error"}, {}, TransientOAuthError, "server_error", None),
        (503, {"error": "unavailable"}, {}, TransientOAuthError, "unavailable", None),
    ],
)
def test_token_errors_are_classified_permanent_or_transient(
    mocked, status, body, headers, expected, error, retry_after
):
    mocked.post(TOKEN_URL, json=body, status=status, headers=headers)

    with pytest.raises(expected) as caught:
        refresh(GLOBAL, client_id="c", refresh_token="NA_r")

    exc = caught.value
    assert exc.status == status
    assert exc.error == error
    assert exc.permanent is (expected is PermanentOAuthError)
    assert exc.transient is (expected is TransientOAuthError)
    assert exc.retry_after == retry_after
    assert isinstance(exc, OAuthError)


def test_transient_oauth_errors_can_drive_celery_autoretry():
    assert issubclass(TransientOAuthError, TransientError)
    assert not issubclass(PermanentOAuthError, TransientError)


@pytest.mark.parametrize(
    "failure", [requests.ConnectTimeout("slow"), requests.ReadTimeout("slow")], ids=type
)
def test_timeout_is_transient(mocked, failure):
    mocked.post(TOKEN_URL, body=failure)

    with pytest.raises(TransientOAuthError) as caught:
        refresh(GLOBAL, client_id="c", refresh_token="NA_r")

    assert caught.value.error == "timeout"
    assert caught.value.status is None


def test_connection_error_is_transient(mocked):
    mocked.post(TOKEN_URL, body=requests.ConnectionError("refused"))

    with pytest.raises(TransientOAuthError) as caught:
        refresh(GLOBAL, client_id="c", refresh_token="NA_r")

    assert caught.value.error == "connection_error"


@pytest.mark.parametrize("status", [200, 403, 502])
def test_html_body_is_transient(mocked, status):
    # e.g. China's Akamai WAF or a load balancer page instead of Tesla's OAuth server.
    mocked.post(
        TOKEN_URL,
        body="<html><body>Access Denied</body></html>",
        status=status,
        content_type="text/html",
    )

    with pytest.raises(TransientOAuthError) as caught:
        refresh(GLOBAL, client_id="c", refresh_token="NA_r")

    assert caught.value.status == status
    assert "Access Denied" not in str(caught.value)


def test_success_without_access_token_is_transient(mocked):
    mocked.post(TOKEN_URL, json={"token_type": "Bearer"})

    with pytest.raises(TransientOAuthError):
        refresh(GLOBAL, client_id="c", refresh_token="NA_r")


def test_authorize_style_error_object_is_read(mocked):
    body = {
        "error": {
            "message": "We don't recognize this redirect URI",
            "code": 400,
            "reason": "AuthorizationError",
        }
    }
    mocked.post(TOKEN_URL, json=body, status=400)

    with pytest.raises(PermanentOAuthError) as caught:
        refresh(GLOBAL, client_id="c", refresh_token="NA_r")

    assert caught.value.error == "AuthorizationError"
    assert "redirect URI" in caught.value.description


def test_error_messages_never_contain_the_token_or_secret(mocked):
    mocked.post(
        TOKEN_URL,
        json={"error": "login_required", "error_description": "token NA_secret-refresh is used"},
        status=401,
    )

    with pytest.raises(PermanentOAuthError) as caught:
        refresh(GLOBAL, client_id="c", refresh_token="NA_secret-refresh")

    assert "NA_secret-refresh" not in str(caught.value)
    assert "NA_secret-refresh" not in caught.value.description
    assert "[redacted]" in caught.value.description


# --- claims and TokenSet -----------------------------------------------------------------


def test_claims_decoding_reads_the_aud_list_scopes_and_region():
    claims = decode_claims(make_access_token())

    assert claims.sub == "user-uuid-1"
    assert claims.aud == (NA, EU, "https://auth.tesla.com/oauth2/v3/userinfo")
    assert claims.scp == ("openid", "offline_access", "vehicle_device_data")
    assert claims.ou_code == "EU"
    assert claims.azp == "client-123"
    assert claims.iss == "https://auth.tesla.com/oauth2/v3/nts"
    assert (claims.exp, claims.iat) == (1716670965, 1716642165)


def test_claims_decoding_accepts_a_single_string_aud_and_expired_tokens():
    claims = decode_claims(make_access_token(aud=NA, exp=1, scp="openid user_data"))

    assert claims.aud == (NA,)
    assert claims.scp == ("openid", "user_data")
    assert claims.exp == 1


def test_claims_decoding_rejects_a_non_jwt_without_echoing_it():
    with pytest.raises(ValueError) as caught:
        decode_claims("NA_opaque-secret-thing")

    assert "NA_opaque-secret-thing" not in str(caught.value)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "=",  # padding: JWS segments are unpadded base64url
        lambda t: t.replace(".", "!", 1),  # two segments
        lambda t: "e30." + t.split(".", 1)[1].replace("-", "+"),  # not base64url
        lambda t: "bm90IGpzb24." + t.split(".", 1)[1],  # header is not JSON ("not json")
        lambda t: t.split(".")[0] + ".WzFd." + t.split(".")[2],  # claims are a list ("[1]")
        lambda t: t.split(".")[0] + ".e30x." + t.split(".")[2],  # a segment of length 4k+1
    ],
)
def test_claims_decoding_refuses_what_is_not_a_well_formed_jwt(mangle):
    with pytest.raises(ValueError, match="not a readable JWT"):
        decode_claims(mangle(make_access_token()))


def test_claims_decoding_does_not_check_the_signature():
    header, claims, _ = make_access_token().split(".")
    assert decode_claims(f"{header}.{claims}.c2lnbmF0dXJl").sub == "user-uuid-1"


def test_token_set_repr_hides_every_token():
    access = make_access_token()
    tokens = TokenSet(
        access_token=access,
        refresh_token="NA_refresh-secret",
        id_token="id-token-secret",
        expires_in=28800,
        token_type="Bearer",
        scope="openid",
        claims=decode_claims(access),
    )

    text = repr(tokens) + str(tokens)
    assert access not in text
    assert "NA_refresh-secret" not in text
    assert "id-token-secret" not in text
    assert "expires_in=28800" in text


def test_expires_in_falls_back_to_token_lifetime():
    access = make_access_token(iat=1000, exp=29800)
    response = requests.Response()
    response.status_code = 200
    response._content = b'{"access_token": "%s"}' % access.encode()

    tokens = oauth._parse_token_response(response, secrets=[])

    assert tokens.expires_in == 28800
