from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from teslafleet import fleet as fleet_module
from teslafleet.errors import TransientError
from teslafleet.fleet import (
    AccountDisabled,
    BaseURLNotAllowed,
    DeviceError,
    FleetClient,
    FleetError,
    FleetStatus,
    MissingScopes,
    NotFound,
    NotRegisteredInRegion,
    PartnerPublicKey,
    RateLimited,
    ServerError,
    TelemetryConfigState,
    TelemetryError,
    TransportError,
    Unauthorized,
    UserRegion,
    VehicleInfo,
    VehiclePage,
    VehicleUnavailable,
    WrongRegion,
    error_for_response,
    suggested_base_urls,
    vehicle_pages,
)
from teslafleet.http import DEFAULT_USER_AGENT, TimeoutSession, make_session
from teslafleet.regions import PRODUCTION

NA = "https://fleet-api.prd.na.vn.cloud.tesla.com"
EU = "https://fleet-api.prd.eu.vn.cloud.tesla.com"
CN = "https://fleet-api.prd.cn.vn.cloud.tesla.cn"
GLOBAL_ALLOWLIST = PRODUCTION.fleet_allowlist("global")
TOKEN = "eyJ-user-access-token"
VIN = "5YJ3000000NEXUS01"


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def client(base_url: str = NA, allowed: frozenset[str] = GLOBAL_ALLOWLIST) -> FleetClient:
    return FleetClient(base_url, TOKEN, allowed_base_urls=allowed)


def vehicle(n: int) -> dict[str, object]:
    return {"id": n, "vin": f"5YJ30000000000{n:03d}", "state": "online"}


# --- envelope and request shape ----------------------------------------------------------


def test_envelope_is_unwrapped_and_request_carries_bearer_and_json_content_type(mocked):
    mocked.get(f"{NA}/api/1/vehicles/{VIN}", json={"response": vehicle(1), "txid": "abc"})

    result = client().vehicle(VIN)

    assert result == vehicle(1)
    sent = mocked.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["User-Agent"] == DEFAULT_USER_AGENT


def test_post_bodies_are_json(mocked):
    mocked.post(
        f"{NA}/api/1/vehicles/fleet_telemetry_config_jws",
        json={"response": {"updated_vehicles": 1, "skipped_vehicles": {}}},
        match=[matchers.json_params_matcher({"vins": [VIN], "token": "header.payload.sig"})],
    )

    result = client().fleet_telemetry_config_jws([VIN], "header.payload.sig")

    assert result["updated_vehicles"] == 1
    assert mocked.calls[0].request.headers["Content-Type"] == "application/json"


def test_user_region_is_typed_and_normalised(mocked):
    mocked.get(
        f"{NA}/api/1/users/region",
        json={"response": {"region": "eu", "fleet_api_base_url": f"{EU}/"}},
    )

    assert client().user_region() == UserRegion(region="eu", fleet_api_base_url=EU)


def test_vehicle_data_sends_endpoints_semicolon_joined(mocked):
    mocked.get(f"{NA}/api/1/vehicles/{VIN}/vehicle_data", json={"response": {"vin": VIN}})

    client().vehicle_data(VIN, ["charge_state", "location_data"])

    client().vehicle_data(VIN, "charge_state")
    client().vehicle_data(VIN)

    queries = [urlsplit(call.request.url).query for call in mocked.calls]
    assert queries == ["endpoints=charge_state%3Blocation_data", "endpoints=charge_state", ""]


def test_vehicle_tag_cannot_add_path_segments(mocked):
    mocked.get(f"{NA}/api/1/vehicles/..%2Fusers%2Fme", json={"response": {}})

    client().vehicle("../users/me")

    assert mocked.calls[0].request.url == f"{NA}/api/1/vehicles/..%2Fusers%2Fme"


def test_fleet_status_and_telemetry_endpoints_hit_documented_paths(mocked):
    mocked.post(f"{NA}/api/1/vehicles/fleet_status", json={"response": {"key_paired_vins": []}})
    mocked.get(
        f"{NA}/api/1/vehicles/{VIN}/fleet_telemetry_config",
        json={"response": {"synced": True, "config": None}},
    )
    mocked.delete(
        f"{NA}/api/1/vehicles/{VIN}/fleet_telemetry_config",
        json={"response": {"updated_vehicles": 1}},
    )
    mocked.get(
        f"{NA}/api/1/vehicles/{VIN}/fleet_telemetry_errors",
        json={"response": {"fleet_telemetry_errors": [{"vin": VIN, "error": "unknown issuer"}]}},
    )
    mocked.post(f"{NA}/api/1/vehicles/{VIN}/wake_up", json={"response": {"state": "asleep"}})
    api = client()

    assert api.fleet_status([VIN]) == FleetStatus(key_paired_vins=frozenset())
    assert json.loads(mocked.calls[0].request.body) == {"vins": [VIN]}
    assert api.fleet_telemetry_config(VIN) == TelemetryConfigState(synced=True)
    assert api.fleet_telemetry_config_delete(VIN) == {"updated_vehicles": 1}
    assert api.fleet_telemetry_errors(VIN) == [TelemetryError(vin=VIN, error="unknown issuer")]
    assert api.wake_up(VIN) == {"state": "asleep"}


def test_partner_endpoints(mocked):
    mocked.post(
        f"{EU}/api/1/partner_accounts",
        json={"response": {"domain": "portal.example.com", "public_key": "04ab"}},
        match=[matchers.json_params_matcher({"domain": "portal.example.com"})],
    )
    mocked.get(
        f"{EU}/api/1/partner_accounts/public_key",
        json={"response": {"public_key": "04ab"}},
        match=[matchers.query_param_matcher({"domain": "portal.example.com"})],
    )
    mocked.get(
        f"{EU}/api/1/partner_accounts/fleet_telemetry_errors",
        json={"response": {"fleet_telemetry_errors": []}},
    )
    api = client(EU)

    assert api.partner_register("Portal.Example.com")["public_key"] == "04ab"
    assert api.partner_public_key("portal.example.com") == PartnerPublicKey("04ab")
    assert api.partner_fleet_telemetry_errors() == []
    assert urlsplit(mocked.calls[2].request.url).query == ""


def test_status_is_plain_text_and_sends_no_token(mocked):
    mocked.get(f"{NA}/status", body="ok", content_type="text/plain")

    assert client().status() == "ok"
    assert "Authorization" not in mocked.calls[0].request.headers


@pytest.mark.parametrize(("status", "expected"), [(503, TransientError), (404, FleetError)])
def test_status_that_is_not_2xx_raises(mocked, status, expected):
    mocked.get(f"{NA}/status", body="down", status=status, content_type="text/plain")

    with pytest.raises(expected):
        client().status()


def test_repr_never_shows_the_token():
    assert TOKEN not in repr(client())


# --- pagination --------------------------------------------------------------------------


def test_vehicles_follows_pagination_next_over_three_pages(mocked):
    pages = {
        1: ([vehicle(1), vehicle(2)], 2),
        2: ([vehicle(3), vehicle(4)], 3),
        3: ([vehicle(5)], None),
    }
    for page, (items, next_page) in pages.items():
        mocked.get(
            f"{NA}/api/1/vehicles",
            json={
                "response": items,
                "count": 5,
                "pagination": {
                    "previous": None,
                    "next": next_page,
                    "current": page,
                    "per_page": 2,
                    "count": 5,
                    "pages": 3,
                },
            },
            match=[matchers.query_param_matcher({"page": str(page), "per_page": "2"})],
        )

    result = client().vehicles(per_page=2)

    assert [v["id"] for v in result] == [1, 2, 3, 4, 5]
    assert len(mocked.calls) == 3


def test_vehicles_without_pagination_stops_on_a_short_page(mocked):
    for page, items in {
        1: [vehicle(1), vehicle(2)],
        2: [vehicle(3), vehicle(4)],
        3: [vehicle(5)],
    }.items():
        mocked.get(
            f"{NA}/api/1/vehicles",
            json={"response": items, "count": len(items)},
            match=[matchers.query_param_matcher({"page": str(page), "per_page": "2"})],
        )

    result = client().vehicles(per_page=2)

    assert [v["id"] for v in result] == [1, 2, 3, 4, 5]
    assert len(mocked.calls) == 3


def test_vehicles_without_pagination_stops_when_total_count_is_reached(mocked):
    for page, items in {1: [vehicle(1), vehicle(2)], 2: [vehicle(3), vehicle(4)]}.items():
        mocked.get(
            f"{NA}/api/1/vehicles",
            json={"response": items, "count": 4},
            match=[matchers.query_param_matcher({"page": str(page), "per_page": "2"})],
        )

    result = client().vehicles(per_page=2)

    assert len(result) == 4
    assert len(mocked.calls) == 2


def _paged(mocked, pages: dict[int, tuple[list, object]], per_page: int = 2) -> None:
    for page, (items, next_page) in pages.items():
        mocked.get(
            f"{NA}/api/1/vehicles",
            json={"response": items, "count": 5, "pagination": {"next": next_page}},
            match=[matchers.query_param_matcher({"page": str(page), "per_page": str(per_page)})],
        )


def test_vehicles_follows_pagination_next_sent_as_a_string(mocked):
    _paged(mocked, {1: ([vehicle(1), vehicle(2)], "2"), 2: ([vehicle(3)], None)})

    assert [v["id"] for v in client().vehicles(per_page=2)] == [1, 2, 3]


def test_vehicle_pages_fetches_each_page_through_the_callers_function(mocked):
    _paged(mocked, {1: ([vehicle(1), vehicle(2)], "2"), 2: ([vehicle(3)], None)})
    fleet = client()
    asked = []

    def fetch(page: int, per_page: int) -> VehiclePage:
        asked.append((page, per_page))
        return fleet.vehicles_page(page, per_page)

    pages = list(vehicle_pages(fetch, per_page=2))

    assert asked == [(1, 2), (2, 2)]
    assert [[v["id"] for v in p.vehicles] for p in pages] == [[1, 2], [3]]


@pytest.mark.parametrize(
    "bad_next",
    [
        "two",
        "\u0000",
        "",
        "1",
        1,
        0,
        {"page": 2},
        [2],
        "²",
        "9" * 5000,
        2.5,
        f"{NA}/api/1/vehicles?page=two",
    ],
)
def test_an_unusable_next_raises_instead_of_ending_the_list(mocked, bad_next):
    # Stopping would look like a complete list and hide every later page.
    _paged(mocked, {1: ([vehicle(1), vehicle(2)], bad_next)})

    with pytest.raises(TransportError) as caught:
        client().vehicles(per_page=2)
    assert caught.value.error == "invalid_pagination"
    assert caught.value.transient
    assert "\x00" not in str(caught.value)  # the message is stored on the sync run


def test_an_unusable_next_raises_after_its_page_was_handed_over(mocked):
    _paged(mocked, {1: ([vehicle(1), vehicle(2)], "two")})
    received = []

    with pytest.raises(TransportError):
        for page in vehicle_pages(client().vehicles_page, per_page=2):
            received.extend(v["id"] for v in page.vehicles)
    assert received == [1, 2]


def test_a_next_link_is_followed_by_its_page_parameter(mocked):
    link = f"{NA}/api/1/vehicles?page=2&per_page=2"
    _paged(mocked, {1: ([vehicle(1), vehicle(2)], link), 2: ([vehicle(3)], None)})

    assert [v["id"] for v in client().vehicles(per_page=2)] == [1, 2, 3]


def test_vehicles_page_keeps_count_and_pagination(mocked):
    mocked.get(
        f"{NA}/api/1/vehicles",
        json={"response": [vehicle(1)], "count": 1, "pagination": {"next": None}},
    )

    page = client().vehicles_page(1, 100)

    assert page.vehicles == [vehicle(1)]
    assert page.count == 1
    assert page.pagination == {"next": None}


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected", "transient"),
    [
        (401, {"response": None, "error": "token expired (401)"}, Unauthorized, False),
        (401, None, Unauthorized, False),
        (403, {"response": None, "error": "Unauthorized missing scopes"}, MissingScopes, False),
        (404, {"response": None, "error": f"{VIN} not_found"}, NotFound, False),
        (
            408,
            {"response": None, "error": "vehicle unavailable: vehicle is offline or asleep"},
            VehicleUnavailable,
            True,
        ),
        (
            500,
            {"response": None, "error": "vehicle unavailable: vehicle is offline or asleep"},
            VehicleUnavailable,
            True,
        ),
        (503, {"response": None, "error": "vehicle is not available"}, VehicleUnavailable, True),
        (
            412,
            {"response": None, "error": f"Account x must be registered in the current region {NA}"},
            NotRegisteredInRegion,
            False,
        ),
        (421, {"response": None, "error": "user out of region"}, WrongRegion, False),
        (429, {"response": None, "error": "rate limited"}, RateLimited, True),
        (500, {"response": None, "error": "internal error"}, ServerError, True),
        (502, None, ServerError, True),
        (504, {"response": None, "error": "gateway timeout"}, ServerError, True),
        (540, {"response": None, "error": "device unexpected response"}, DeviceError, False),
        (422, {"response": None, "error": "invalid_resource"}, FleetError, False),
    ],
)
def test_each_status_maps_to_its_error_class(mocked, status, body, expected, transient):
    if body is None:
        mocked.get(f"{NA}/api/1/vehicles/{VIN}", body="", status=status)
    else:
        mocked.get(f"{NA}/api/1/vehicles/{VIN}", json=body, status=status)

    with pytest.raises(expected) as caught:
        client().vehicle(VIN)

    exc = caught.value
    assert type(exc) is expected
    assert exc.status == status
    assert exc.transient is transient
    assert exc.permanent is not transient
    assert isinstance(exc, TransientError) is transient
    assert exc.error == ("" if body is None else body["error"])


def test_non_json_success_body_is_a_transport_error(mocked):
    mocked.get(f"{NA}/api/1/vehicles/{VIN}", body="<html>oops</html>", content_type="text/html")

    with pytest.raises(TransportError) as caught:
        client().vehicle(VIN)

    assert caught.value.transient is True


def test_timeout_is_a_transport_error(mocked):
    mocked.get(f"{NA}/api/1/vehicles/{VIN}", body=requests.ReadTimeout("slow"))

    with pytest.raises(TransportError) as caught:
        client().vehicle(VIN)

    assert caught.value.error == "timeout"
    assert caught.value.transient is True


def test_429_exposes_retry_after_and_ratelimit_headers(mocked):
    mocked.get(
        f"{NA}/api/1/vehicles",
        json={"response": None, "error": "Too Many Requests"},
        status=429,
        headers={
            "Retry-After": "146092",
            "RateLimit-Limit": "200",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": "14692",
        },
    )

    with pytest.raises(RateLimited) as caught:
        client().vehicles()

    exc = caught.value
    assert exc.retry_after == 146092.0
    assert (exc.ratelimit_limit, exc.ratelimit_remaining, exc.ratelimit_reset) == (200, 0, 14692)
    assert exc.ratelimit["ratelimit-limit"] == "200"


def test_429_reads_retry_in_seconds_from_text_when_header_is_missing(mocked):
    mocked.get(f"{NA}/api/1/vehicles", body="Retry in 37829 seconds", status=429)

    with pytest.raises(RateLimited) as caught:
        client().vehicles()

    assert caught.value.retry_after == 37829.0


def test_error_texts_lose_nul_and_control_characters(mocked):
    # They end up logged and stored (a sync run's error); PostgreSQL refuses NUL in text.
    mocked.get(
        f"{NA}/api/1/vehicles/{VIN}",
        status=403,
        json={"response": None, "error": "missing\u0000 scopes\ud800", "error_description": "a\tb"},
    )

    with pytest.raises(MissingScopes) as caught:
        client().vehicle(VIN)

    assert (caught.value.error, caught.value.description) == ("missing scopes", "a b")
    assert "\x00" not in str(caught.value)


def test_error_messages_never_contain_the_token(mocked):
    mocked.get(
        f"{NA}/api/1/vehicles/{VIN}",
        json={"response": None, "error": f"invalid bearer token {TOKEN}"},
        status=401,
    )

    with pytest.raises(Unauthorized) as caught:
        client().vehicle(VIN)

    assert TOKEN not in str(caught.value)
    assert TOKEN not in caught.value.error


# --- 421 re-routing and the bearer allowlist ---------------------------------------------


def out_of_region(url: str) -> dict[str, object]:
    return {
        "response": None,
        "error": f"user out of region, use base URL: {url}, see "
        "https://developer.tesla.com/docs/fleet-api#regional-requirements",
        "error_description": "",
    }


def test_421_body_reroutes_once_to_the_allowlisted_region_and_updates_base_url(mocked):
    mocked.get(f"{NA}/api/1/vehicles/{VIN}", json=out_of_region(EU), status=421)
    mocked.get(f"{EU}/api/1/vehicles/{VIN}", json={"response": vehicle(7)})
    api = client(NA)

    result = api.vehicle(VIN)

    assert result == vehicle(7)
    assert api.base_url == EU
    assert [c.request.url for c in mocked.calls] == [
        f"{NA}/api/1/vehicles/{VIN}",
        f"{EU}/api/1/vehicles/{VIN}",
    ]
    assert mocked.calls[1].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_421_alt_svc_header_reroutes_too(mocked):
    mocked.post(
        f"{EU}/api/1/vehicles/fleet_status",
        json={"response": None, "error": "user out of region"},
        status=421,
        headers={"Alt-Svc": f"h2={NA}"},
    )
    mocked.post(
        f"{NA}/api/1/vehicles/fleet_status",
        json={"response": {"key_paired_vins": [VIN]}},
        match=[matchers.json_params_matcher({"vins": [VIN]})],
    )
    api = client(EU)

    assert api.fleet_status([VIN]).key_paired(VIN) is True
    assert api.base_url == NA
    assert len(mocked.calls) == 2


def test_421_pointing_outside_the_allowlist_sends_no_second_request(mocked):
    evil = "https://fleet-api.prd.eu.vn.cloud.tesla.com.attacker.example"
    mocked.get(
        f"{NA}/api/1/vehicles/{VIN}",
        json=out_of_region(evil),
        status=421,
        headers={"Alt-Svc": f"h2={evil}"},
    )
    api = client(NA)

    with pytest.raises(WrongRegion) as caught:
        api.vehicle(VIN)

    assert caught.value.suggested_base_url == evil
    assert caught.value.transient is False
    assert api.base_url == NA
    assert len(mocked.calls) == 1


def test_421_to_china_is_refused_for_a_global_token(mocked):
    mocked.get(f"{NA}/api/1/vehicles/{VIN}", json=out_of_region(CN), status=421)

    with pytest.raises(WrongRegion) as caught:
        client(NA).vehicle(VIN)

    assert caught.value.suggested_base_url == CN
    assert len(mocked.calls) == 1


def test_double_421_stops_after_one_retry(mocked):
    mocked.get(f"{NA}/api/1/vehicles/{VIN}", json=out_of_region(EU), status=421)
    mocked.get(f"{EU}/api/1/vehicles/{VIN}", json=out_of_region(NA), status=421)

    with pytest.raises(WrongRegion) as caught:
        client(NA).vehicle(VIN)

    assert caught.value.suggested_base_url == NA
    assert len(mocked.calls) == 2


def test_421_without_a_hint_raises_wrong_region(mocked):
    mocked.get(f"{NA}/api/1/vehicles/{VIN}", json={"response": None, "error": "x"}, status=421)

    with pytest.raises(WrongRegion) as caught:
        client(NA).vehicle(VIN)

    assert caught.value.suggested_base_url is None
    assert len(mocked.calls) == 1


def test_421_reroute_works_with_sandbox_base_urls_with_paths(mocked):
    root = "http://127.0.0.1:8001"
    allowed = frozenset({f"{root}/fleet/na", f"{root}/fleet/eu"})
    mocked.get(
        f"{root}/fleet/na/api/1/users/me",
        json=out_of_region(f"{root}/fleet/eu"),
        status=421,
    )
    mocked.get(f"{root}/fleet/eu/api/1/users/me", json={"response": {"email": "o@example.com"}})
    api = FleetClient(f"{root}/fleet/na/", TOKEN, allowed_base_urls=allowed)

    assert api.me() == {"email": "o@example.com"}
    assert api.base_url == f"{root}/fleet/eu"


def test_client_refuses_a_base_url_outside_the_allowlist():
    with pytest.raises(BaseURLNotAllowed):
        FleetClient(CN, TOKEN, allowed_base_urls=GLOBAL_ALLOWLIST)


def test_bearer_token_is_never_sent_outside_the_allowlist_even_if_base_url_is_tampered(mocked):
    api = client(NA)
    api.base_url = "https://attacker.example"

    with pytest.raises(BaseURLNotAllowed) as caught:
        api.vehicle(VIN)

    assert TOKEN not in str(caught.value)
    assert len(mocked.calls) == 0


def test_redirects_are_not_followed_with_the_token(mocked):
    mocked.get(
        f"{NA}/api/1/vehicles/{VIN}",
        status=302,
        headers={"Location": "https://attacker.example/steal"},
    )

    with pytest.raises(FleetError):
        client(NA).vehicle(VIN)

    assert len(mocked.calls) == 1


# --- the session factory -----------------------------------------------------------------


def test_session_always_sets_a_timeout_and_the_user_agent(mocked):
    mocked.get("https://example.test/a")
    mocked.get("https://example.test/b")
    session = make_session()

    session.get("https://example.test/a")
    session.get("https://example.test/b", timeout=3)

    assert isinstance(session, TimeoutSession)
    assert mocked.calls[0].request.req_kwargs["timeout"] == (5, 20)
    assert mocked.calls[1].request.req_kwargs["timeout"] == 3
    assert mocked.calls[0].request.headers["User-Agent"].startswith("FleetPortal/")
    assert mocked.calls[0].request.headers["User-Agent"].endswith("(+self-hosted)")


def test_session_takes_a_custom_timeout_and_user_agent(mocked):
    mocked.get("https://example.test/a")
    session = make_session(user_agent="Custom/1", timeout=(1, 2))

    session.get("https://example.test/a")

    assert mocked.calls[0].request.req_kwargs["timeout"] == (1, 2)
    assert mocked.calls[0].request.headers["User-Agent"] == "Custom/1"


def test_session_does_not_retry_at_transport_level():
    session = make_session()

    for prefix in ("https://", "http://"):
        assert session.get_adapter(prefix + "example.test").max_retries.total == 0


def test_fleet_client_uses_the_session_timeout(mocked):
    mocked.get(f"{NA}/api/1/users/me", json={"response": {}})

    client().me()

    assert mocked.calls[0].request.req_kwargs["timeout"] == (5, 20)
    assert parse_qs(urlsplit(mocked.calls[0].request.url).query) == {}


# --- typed answers: Tesla's documented shapes, and odd ones read as "not sent" ---------------

OTHER = "5YJ3000000NEXUS02"


def test_fleet_status_reads_pairing_and_vehicle_info_as_documented():
    status = FleetStatus.from_json(
        {
            "key_paired_vins": [VIN],
            "unpaired_vins": [OTHER],
            "vehicle_info": {
                VIN: {
                    "firmware_version": "2024.44.25",
                    "fleet_telemetry_version": "1.0.0",
                    "total_number_of_keys": 3,
                    "vehicle_command_protocol_required": True,
                    "safety_screen_streaming_toggle_enabled": False,
                    "discounted_device_data": True,
                },
                OTHER: {"firmware_version": "2023.1", "fleet_telemetry_version": None},
            },
        }
    )

    assert (status.key_paired(VIN), status.key_paired(OTHER)) == (True, False)
    assert status.vehicle_info[VIN] == VehicleInfo(
        firmware_version="2024.44.25",
        fleet_telemetry_version="1.0.0",
        total_number_of_keys=3,
        vehicle_command_protocol_required=True,
        safety_screen_streaming_toggle_enabled=False,
        discounted_device_data=True,
        has_discounted_device_data=True,
    )
    # A batch call carries no discounted_device_data: "not sent", not "false".
    assert status.vehicle_info[OTHER].has_discounted_device_data is False
    assert status.vehicle_info[OTHER].fleet_telemetry_version is None


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "x",
        {"vehicle_info": [VIN], "key_paired_vins": VIN},
        {"vehicle_info": "x", "key_paired_vins": 7, "unpaired_vins": 7},
        {"key_paired_vins": {VIN: True}, "unpaired_vins": None},
    ],
)
def test_fleet_status_of_odd_shapes_knows_nothing_rather_than_failing(body):
    status = FleetStatus.from_json(body)

    assert status.key_paired(VIN) is None and not status.mentions(VIN)


def test_fleet_status_keeps_only_string_vins_and_flags_an_unreadable_info_entry():
    status = FleetStatus.from_json(
        {
            "key_paired_vins": [{"vin": VIN}, OTHER],
            "unpaired_vins": [["x"]],
            "vehicle_info": {VIN: ["not", "an", "object"], OTHER: None},
        }
    )

    assert status.key_paired_vins == frozenset({OTHER})
    assert status.unreadable_vins == frozenset({VIN}) and status.mentions(VIN)
    # null info: the car is known, its info empty.
    assert status.vehicle_info[OTHER] == VehicleInfo()
    # Without a usable key_paired_vins only an explicit "unpaired" is known.
    assert FleetStatus.from_json({"unpaired_vins": [VIN]}).key_paired(VIN) is False
    assert FleetStatus.from_json({"unpaired_vins": [VIN]}).key_paired(OTHER) is None


def test_vehicle_info_fields_of_other_types_read_as_not_sent():
    info = VehicleInfo.from_json(
        {
            "firmware_version": ["2024"],
            "fleet_telemetry_version": 7,
            "total_number_of_keys": True,
            "vehicle_command_protocol_required": "yes",
            "safety_screen_streaming_toggle_enabled": 1,
            "discounted_device_data": None,
        }
    )

    assert info == VehicleInfo(fleet_telemetry_version="7", has_discounted_device_data=True)
    assert VehicleInfo.from_json({"total_number_of_keys": "3"}).total_number_of_keys is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"synced": True, "config": {"hostname": "h"}, "key_paired": True},
            TelemetryConfigState(
                synced=True, holds_config=True, config={"hostname": "h"}, key_paired=True
            ),
        ),
        ({"synced": True, "config": None}, TelemetryConfigState(synced=True)),
        (
            {"synced": True, "config": None, "limit_reached": True},
            TelemetryConfigState(synced=True, limit_reached=True),
        ),
        # "true" is not true; a config that is not an object is held but unreadable.
        ({"synced": "true", "config": "x"}, TelemetryConfigState(holds_config=True)),
        ({"synced": 1, "key_paired": "yes"}, TelemetryConfigState()),
        (None, TelemetryConfigState()),
        (["synced"], TelemetryConfigState()),
    ],
)
def test_telemetry_config_state_reads_synced_only_when_literally_true(body, expected):
    assert TelemetryConfigState.from_json(body) == expected


def test_telemetry_errors_read_a_list_or_an_object_holding_one():
    documented = {
        "created_at": "2025-01-13T19:59:18.55743492Z",
        "error": "error loading config file: InvalidSignature: unknown issuer",
        "error_name": "config_manager_error",
        "name": "client-id",
        "vin": VIN,
    }
    expected = TelemetryError(
        vin=VIN,
        created_at="2025-01-13T19:59:18.55743492Z",
        error="error loading config file: InvalidSignature: unknown issuer",
        error_name="config_manager_error",
        name="client-id",
    )

    assert TelemetryError.list_from_json({"fleet_telemetry_errors": [documented]}) == [expected]
    assert TelemetryError.list_from_json([documented, "x", 7, None]) == [expected]
    assert TelemetryError.list_from_json({"vin": VIN, "error": 5}) == []
    assert TelemetryError.list_from_json({"fleet_telemetry_errors": None}) == []
    assert TelemetryError.list_from_json("errors") == []
    assert TelemetryError.list_from_json([{"error": 5, "vin": None}]) == [
        TelemetryError(vin="None", error="5")
    ]


@pytest.mark.parametrize(
    ("body", "held"),
    [
        ({"public_key": "04ABCDEF"}, "04abcdef"),
        ({"public_key": None}, ""),
        ({}, ""),
        (None, ""),
        ("04ab", ""),
    ],
)
def test_partner_public_key_is_lower_case_hex_or_empty(body, held):
    assert PartnerPublicKey.from_json(body) == PartnerPublicKey(held)


# --- the destination check itself (issue 20: no public method reaches a bad URL today) ------


@pytest.mark.parametrize(
    "url",
    [
        f"{NA}.evil.example/api/1/vehicles",  # the allowed base as a host-name prefix
        f"{NA}@evil.example/x",  # the allowed base as user information
        f"{NA}evil/api/1/vehicles",  # the base's last path segment continued
        "https://evil.example/api/1/vehicles",
    ],
)
def test_the_bearer_token_goes_only_under_an_allowlisted_base(url):
    api = client()
    with pytest.raises(BaseURLNotAllowed, match="refusing to send the bearer token"):
        api._check_destination(NA, url)
    api._check_destination(NA, f"{NA}/api/1/vehicles")  # the real thing passes
    api._check_destination(NA, NA)


def test_a_base_outside_the_allowlist_is_refused_even_for_its_own_urls():
    evil = "https://fleet-api.prd.na.vn.cloud.tesla.com.evil.example"
    with pytest.raises(BaseURLNotAllowed):
        client()._check_destination(evil, f"{evil}/api/1/vehicles")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        # A 421 whose body echoes the bearer token, with no region suggested.
        (421, {"error": f"wrong region for {TOKEN}", "error_description": f"user of {TOKEN}"}),
        # A token echoed in error_description of an ordinary refusal.
        (400, {"error": "invalid_request", "error_description": f"bad token {TOKEN} given"}),
        (403, {"response": None, "error": "forbidden", "error_description": TOKEN}),
    ],
)
def test_a_bearer_token_echoed_in_any_error_field_is_redacted(mocked, status, body):
    mocked.get(f"{NA}/api/1/vehicles/{VIN}", json=body, status=status)

    with pytest.raises(FleetError) as caught:
        client().vehicle(VIN)

    raised = caught.value
    for text in (str(raised), repr(raised), raised.error, getattr(raised, "description", "")):
        assert TOKEN not in (text or "")
    assert "[redacted]" in f"{raised.error} {getattr(raised, 'description', '')} {raised}"


def test_connection_errors_and_timeouts_become_transient_transport_errors():
    """Over real sockets (no mock): nothing listening, and a server that never answers."""
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    base = f"http://127.0.0.1:{port}/fleet/na"
    api = FleetClient(base, TOKEN, allowed_base_urls=frozenset({base}))
    with pytest.raises(TransportError) as caught:
        api.user_region()
    assert caught.value.error == "connection_error" and caught.value.transient
    assert TOKEN not in str(caught.value)

    silent = socket.socket()  # accepts connections (the backlog), never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        base = f"http://127.0.0.1:{silent.getsockname()[1]}/fleet/na"
        api = FleetClient(
            base,
            TOKEN,
            allowed_base_urls=frozenset({base}),
            session=make_session(timeout=(1.0, 0.2)),
        )
        with pytest.raises(TransportError) as caught:
            api.user_region()
        assert caught.value.error == "timeout" and caught.value.transient
        assert TOKEN not in str(caught.value)
    finally:
        silent.close()


# --- what each call says when it fails: the messages reach logs and a run's stored error ---


class RecordingObserver(fleet_module.FleetObserver):
    def __init__(self) -> None:
        self.heard: list[tuple] = []

    def before_request(self, method: str, path: str, base_url: str) -> None:
        self.heard.append(("before", method, path, base_url))

    def on_response(self, method: str, path: str, status: int, base_url: str) -> None:
        self.heard.append(("response", method, path, status, base_url))

    def on_account_disabled(self, base_url: str, error: AccountDisabled) -> None:
        self.heard.append(("disabled", base_url, error))


def answer(status: int, body: object = None, *, text: str = "", headers=None) -> requests.Response:
    """A requests.Response as the session returns it, for the helpers that read one."""
    response = requests.Response()
    response.status_code = status
    response._content = (json.dumps(body) if body is not None else text).encode()
    response.encoding = "utf-8"
    response.headers.update(headers or {})
    return response


ENDPOINTS = [
    ("GET", "/api/1/users/region", lambda api: api.user_region()),
    ("GET", "/api/1/users/me", lambda api: api.me()),
    ("GET", "/api/1/vehicles", lambda api: api.vehicles_page(1, 2)),
    ("GET", f"/api/1/vehicles/{VIN}", lambda api: api.vehicle(VIN)),
    ("GET", f"/api/1/vehicles/{VIN}/vehicle_data", lambda api: api.vehicle_data(VIN)),
    ("POST", f"/api/1/vehicles/{VIN}/wake_up", lambda api: api.wake_up(VIN)),
    ("POST", "/api/1/vehicles/fleet_status", lambda api: api.fleet_status([VIN])),
    (
        "POST",
        "/api/1/vehicles/fleet_telemetry_config_jws",
        lambda api: api.fleet_telemetry_config_jws([VIN], "t"),
    ),
    (
        "GET",
        f"/api/1/vehicles/{VIN}/fleet_telemetry_config",
        lambda api: api.fleet_telemetry_config(VIN),
    ),
    (
        "DELETE",
        f"/api/1/vehicles/{VIN}/fleet_telemetry_config",
        lambda api: api.fleet_telemetry_config_delete(VIN),
    ),
    (
        "GET",
        f"/api/1/vehicles/{VIN}/fleet_telemetry_errors",
        lambda api: api.fleet_telemetry_errors(VIN),
    ),
    ("POST", "/api/1/partner_accounts", lambda api: api.partner_register("d.example")),
    (
        "GET",
        "/api/1/partner_accounts/public_key",
        lambda api: api.partner_public_key("d.example"),
    ),
    (
        "GET",
        "/api/1/partner_accounts/fleet_telemetry_errors",
        lambda api: api.partner_fleet_telemetry_errors(),
    ),
]


@pytest.mark.parametrize(("method", "path", "call"), ENDPOINTS)
def test_each_call_names_its_method_and_path_to_the_observer_and_in_its_error(
    mocked, method, path, call
):
    mocked.add(method, f"{NA}{path}", json={"response": None, "error": "not_found"}, status=404)
    observer = RecordingObserver()
    api = FleetClient(NA, TOKEN, allowed_base_urls=GLOBAL_ALLOWLIST, observer=observer)

    with pytest.raises(NotFound) as caught:
        call(api)

    assert str(caught.value) == f"Fleet API {method} {path} -> 404 not_found"
    assert observer.heard == [("before", method, path, NA), ("response", method, path, 404, NA)]


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, "", "Fleet API GET /api/1/vehicles/x -> 401"),
        (
            403,
            {"error": "Unauthorized missing scopes", "error_description": "vehicle_location"},
            "Fleet API GET /api/1/vehicles/x -> 403 Unauthorized missing scopes: vehicle_location",
        ),
        (404, {"response": None}, "Fleet API GET /api/1/vehicles/x -> 404"),
        (408, {"error": "asleep"}, "Fleet API GET /api/1/vehicles/x -> 408 asleep"),
        (412, {"error": "not registered"}, "Fleet API GET /api/1/vehicles/x -> 412 not registered"),
        (429, {"error": "slow down"}, "Fleet API GET /api/1/vehicles/x -> 429 slow down"),
        (540, {"error": "device"}, "Fleet API GET /api/1/vehicles/x -> 540 device"),
        (
            503,
            {"error": "vehicle is offline"},
            "Fleet API GET /api/1/vehicles/x -> 503 vehicle is offline",
        ),
        (500, {"error": "boom"}, "Fleet API GET /api/1/vehicles/x -> 500 boom"),
        (418, {"error": "teapot"}, "Fleet API GET /api/1/vehicles/x -> 418 teapot"),
        (300, {"error": "choices"}, "Fleet API GET /api/1/vehicles/x -> 300 choices"),
        # A 2xx that reached here was unusable (not Tesla's envelope).
        (200, "not json", "Fleet API GET /api/1/vehicles/x -> 200 not json"),
        (299, "not json", "Fleet API GET /api/1/vehicles/x -> 299 not json"),
    ],
)
def test_error_for_response_messages_carry_status_error_and_description(status, body, message):
    response = answer(status, body) if isinstance(body, dict) else answer(status, text=body)

    error = error_for_response(response, "GET /api/1/vehicles/x")

    assert str(error) == message
    assert error.status == status
    assert isinstance(error, TransportError) is (200 <= status < 300)
    assert (error.description or "") == (
        body.get("error_description", "") if isinstance(body, dict) else ""
    )
    if isinstance(body, dict) and "error" not in body:
        assert error.error == ""


def test_a_403_exceeded_limit_is_account_disabled_and_the_observer_hears_it(mocked):
    body = {"response": None, "error": "account disabled: EXCEEDED_LIMIT"}
    mocked.get(f"{NA}/api/1/users/me", json=body, status=403)
    observer = RecordingObserver()
    api = FleetClient(NA, TOKEN, allowed_base_urls=GLOBAL_ALLOWLIST, observer=observer)

    with pytest.raises(AccountDisabled) as caught:
        api.me()

    error = caught.value
    assert str(error) == "Fleet API GET /api/1/users/me -> 403 account disabled: EXCEEDED_LIMIT"
    assert (error.status, error.error) == (403, "account disabled: EXCEEDED_LIMIT")
    assert error.transient is False
    assert observer.heard[-1] == ("disabled", NA, error)
    # The same words on another status are that status's error.
    assert type(error_for_response(answer(404, body), "GET /x")) is NotFound


def test_error_for_response_on_a_421_names_the_suggested_region():
    response = answer(421, out_of_region(EU), headers={"Alt-Svc": f"h2={NA}"})

    error = error_for_response(response, "GET /status", redact=TOKEN)

    assert type(error) is WrongRegion
    assert error.suggested_base_url == EU
    assert (error.status, error.error) == (421, out_of_region(EU)["error"])
    assert str(error) == f"Fleet API GET /status -> 421 {out_of_region(EU)['error']}"
    assert error_for_response(answer(421, {"error": "x"}), "GET /x").suggested_base_url is None


def test_status_reports_a_421_with_its_suggestion_and_strips_quotes(mocked):
    mocked.get(f"{NA}/status", json=out_of_region(EU), status=421)

    with pytest.raises(WrongRegion) as caught:
        client().status()
    assert caught.value.suggested_base_url == EU
    assert str(caught.value).startswith("Fleet API GET /status -> 421 user out of region")

    mocked.replace(responses.GET, f"{NA}/status", body='"ok"\n', content_type="text/plain")
    assert client().status() == "ok"


def test_status_and_calls_refuse_a_300(mocked):
    mocked.get(f"{NA}/status", body="moved", status=300)
    mocked.get(f"{NA}/api/1/users/me", json={"response": {}}, status=300)

    with pytest.raises(FleetError, match=r"^Fleet API GET /status -> 300 moved$"):
        client().status()
    with pytest.raises(FleetError, match=r"^Fleet API GET /api/1/users/me -> 300$"):
        client().me()


def test_error_texts_from_plain_bodies_are_one_short_line_and_html_is_dropped():
    long_text = "x" * 300
    error = error_for_response(answer(502, text=long_text), "GET /x")
    assert (error.error, error.description) == ("x" * 200, "")

    page = error_for_response(answer(502, text="<html><body>Bad gateway</body></html>"), "GET /x")
    assert (page.error, page.description, str(page)) == ("", "", "Fleet API GET /x -> 502")


def test_an_echoed_token_is_replaced_by_redacted_exactly(mocked):
    body = {"error": f"wrong region for {TOKEN}", "error_description": f"user of {TOKEN}"}
    mocked.get(f"{NA}/api/1/vehicles/{VIN}", json=body, status=421)

    with pytest.raises(WrongRegion) as caught:
        client().vehicle(VIN)

    assert caught.value.error == "wrong region for [redacted]"
    assert caught.value.description == "user of [redacted]"
    assert str(caught.value) == (
        f"Fleet API GET /api/1/vehicles/{VIN} -> 421 and no allowlisted base URL was suggested"
    )


def test_a_body_that_is_not_an_envelope_says_so(mocked):
    mocked.get(f"{NA}/api/1/users/me", json={"data": 1}, status=200)

    with pytest.raises(TransportError) as caught:
        client().me()

    assert str(caught.value) == "Fleet API GET /api/1/users/me -> 200: not a JSON envelope"
    assert (caught.value.status, caught.value.error) == (200, "invalid_response")


def test_transport_failures_name_the_call_and_the_exception(mocked):
    mocked.get(f"{NA}/api/1/users/me", body=requests.ConnectionError("refused"))
    mocked.get(f"{NA}/api/1/users/region", body=requests.ReadTimeout("slow"))

    with pytest.raises(TransportError) as caught:
        client().me()
    assert str(caught.value) == "Fleet API GET /api/1/users/me: ConnectionError"
    with pytest.raises(TransportError) as caught:
        client().user_region()
    assert str(caught.value) == "Fleet API GET /api/1/users/region: timed out"


def test_client_refusing_its_base_url_names_it():
    with pytest.raises(BaseURLNotAllowed, match=rf"^Fleet API base URL {CN} is not allowlisted$"):
        FleetClient(f"{CN}/", TOKEN, allowed_base_urls=GLOBAL_ALLOWLIST)


# --- 421 details ---------------------------------------------------------------------------


def test_421_reroute_keeps_the_query_logs_the_move_and_says_when_it_is_421_again(mocked, caplog):
    mocked.get(f"{NA}/api/1/vehicles/{VIN}/vehicle_data", json=out_of_region(EU), status=421)
    mocked.get(
        f"{EU}/api/1/vehicles/{VIN}/vehicle_data",
        json={"response": None, "error": "still wrong", "error_description": "try again"},
        status=421,
        match=[matchers.query_param_matcher({"endpoints": "charge_state"})],
    )
    caplog.set_level("INFO", logger="teslafleet.fleet")

    with pytest.raises(WrongRegion) as caught:
        client(NA).vehicle_data(VIN, ["charge_state"])

    path = f"/api/1/vehicles/{VIN}/vehicle_data"
    assert str(caught.value) == f"Fleet API GET {path} -> 421 again after rerouting"
    assert (caught.value.error, caught.value.description) == ("still wrong", "try again")
    assert f"Fleet API 421 on GET {path}: rerouting {NA} -> {EU}" in caplog.messages


def test_a_suggested_base_url_loses_a_sentence_full_stop():
    body = {"error": f"user out of region, use base URL: {EU}."}
    assert suggested_base_urls(answer(421, body)) == [EU]
    sandbox = "http://127.0.0.1:8001/fleet/X"
    assert suggested_base_urls(answer(421, text=f"use base URL: {sandbox}.")) == [sandbox]


# --- typed answers and defaults --------------------------------------------------------------


def test_error_subclasses_keep_their_message():
    assert str(WrongRegion("moved", suggested_base_url=EU)) == "moved"
    assert str(RateLimited("slow")) == "slow"


def test_rate_limit_headers_fall_back_to_a_named_variant_when_the_plain_one_is_unreadable():
    error = RateLimited("slow", ratelimit={"ratelimit-limit": "n/a", "ratelimit-fleet-limit": "5"})

    assert error.ratelimit_limit == 5


def test_mentions_a_vin_that_is_only_key_paired():
    assert FleetStatus.from_json({"key_paired_vins": [VIN]}).mentions(VIN) is True
    assert FleetStatus.from_json({"unpaired_vins": [VIN]}).mentions(VIN) is True


def test_a_telemetry_error_without_fields_reads_empty():
    assert TelemetryError.from_json({}) == TelemetryError(vin="", error="")


def test_user_region_without_fields_reads_empty(mocked):
    mocked.get(f"{NA}/api/1/users/region", json={"response": {}})

    region = client().user_region()

    assert region.region == ""
    assert region.fleet_api_base_url == "://"  # normalise_base_url(""): in no allowlist


def test_vehicles_asks_for_100_per_page_by_default(mocked):
    mocked.get(
        f"{NA}/api/1/vehicles",
        json={"response": [vehicle(1)]},
        match=[matchers.query_param_matcher({"page": "1", "per_page": "100"})],
    )

    assert client().vehicles() == [vehicle(1)]
    assert [p.vehicles for p in vehicle_pages(client().vehicles_page)] == [[vehicle(1)]]


def test_a_vehicle_list_that_is_not_a_list_or_has_odd_pagination(mocked):
    mocked.get(f"{NA}/api/1/vehicles", json={"response": {"id": 1}})
    with pytest.raises(TransportError, match=r"^vehicle list response is not a list$"):
        client().vehicles_page(1, 2)

    mocked.replace(
        responses.GET, f"{NA}/api/1/vehicles", json={"response": [], "pagination": "next"}
    )
    assert client().vehicles_page(1, 2).pagination is None


def test_the_list_continues_until_the_total_count_is_seen(mocked):
    for page, items in {1: [vehicle(1), vehicle(2)], 2: [vehicle(3)]}.items():
        mocked.get(
            f"{NA}/api/1/vehicles",
            json={"response": items, "count": 3},
            match=[matchers.query_param_matcher({"page": str(page), "per_page": "2"})],
        )

    assert [v["id"] for v in client().vehicles(per_page=2)] == [1, 2, 3]


def test_a_list_that_never_ends_stops_after_max_pages(monkeypatch):
    monkeypatch.setattr(fleet_module, "MAX_PAGES", 3)

    def fetch(page: int, per_page: int) -> VehiclePage:
        return VehiclePage([vehicle(page)], None, {"next": page + 1})

    with pytest.raises(TransportError, match=r"^vehicle list did not end after 3 pages$"):
        list(vehicle_pages(fetch))


def test_an_unusable_next_is_quoted_shortened_in_the_message():
    def fetch(page: int, per_page: int) -> VehiclePage:
        return VehiclePage([vehicle(1)], None, {"next": "n" * 50})

    with pytest.raises(TransportError) as caught:
        list(vehicle_pages(fetch))
    assert str(caught.value) == f"vehicle list page 1: unusable pagination.next {'n' * 40!r}"


@pytest.mark.parametrize(("next_page", "usable"), [("123456789", True), ("1234567890", False)])
def test_a_page_number_has_at_most_nine_digits(next_page, usable):
    asked = []

    def fetch(page: int, per_page: int) -> VehiclePage:
        asked.append(page)
        return VehiclePage([vehicle(1)], None, {"next": next_page if page == 1 else None})

    if usable:
        list(vehicle_pages(fetch))
        assert asked == [1, 123456789]
    else:
        with pytest.raises(TransportError):
            list(vehicle_pages(fetch))


def test_partner_telemetry_errors_send_the_lower_case_domain(mocked):
    mocked.get(
        f"{EU}/api/1/partner_accounts/fleet_telemetry_errors",
        json={"response": [{"vin": VIN, "error": "e"}]},
        match=[matchers.query_param_matcher({"domain": "portal.example.com"})],
    )

    errors = client(EU).partner_fleet_telemetry_errors("Portal.Example.COM")

    assert errors == [TelemetryError(vin=VIN, error="e")]


def test_close_closes_only_a_session_the_client_made(monkeypatch):
    closed = []

    class Session(TimeoutSession):
        def close(self) -> None:
            closed.append(self)
            super().close()

    own = Session()
    monkeypatch.setattr(fleet_module, "make_session", lambda: own)
    with FleetClient(NA, TOKEN, allowed_base_urls=GLOBAL_ALLOWLIST):
        pass
    assert closed == [own]

    borrowed = Session()
    FleetClient(NA, TOKEN, allowed_base_urls=GLOBAL_ALLOWLIST, session=borrowed).close()
    assert closed == [own]


@pytest.mark.parametrize("status", [502, 422])
def test_offline_words_make_a_vehicle_unavailable_only_on_500_and_503(status):
    error = error_for_response(answer(status, {"error": "vehicle is offline"}), "GET /x")

    assert not isinstance(error, VehicleUnavailable)
    assert type(error) is (ServerError if status >= 500 else FleetError)


def test_a_pagination_without_next_falls_back_to_page_sizes(mocked):
    for page, items in {1: [vehicle(1), vehicle(2)], 2: []}.items():
        mocked.get(
            f"{NA}/api/1/vehicles",
            json={"response": items, "pagination": {"current": page}},
            match=[matchers.query_param_matcher({"page": str(page), "per_page": "2"})],
        )

    assert [v["id"] for v in client().vehicles(per_page=2)] == [1, 2]
    assert len(mocked.calls) == 2


def test_an_empty_page_ends_the_list_whatever_the_page_size():
    asked = []

    def fetch(page: int, per_page: int) -> VehiclePage:
        asked.append(page)
        return VehiclePage([], None, None)

    assert list(vehicle_pages(fetch, per_page=0)) == [VehiclePage([], None, None)]
    assert asked == [1]


def test_a_null_vehicle_list_is_empty(mocked):
    mocked.get(f"{NA}/api/1/vehicles", json={"response": None})

    assert client().vehicles_page(1, 2).vehicles == []


def test_a_boolean_text_field_reads_as_not_sent():
    assert VehicleInfo.from_json({"firmware_version": True}).firmware_version is None


def test_mentions_a_vin_that_only_has_vehicle_info():
    status = FleetStatus.from_json({"vehicle_info": {VIN: {}}})

    assert status.mentions(VIN) is True
    assert status.unreadable_vins == frozenset()


def test_a_borrowed_session_is_the_one_that_sends(mocked):
    mocked.get(f"{NA}/api/1/users/me", json={"response": {}})
    borrowed = make_session(user_agent="Borrowed/1")

    FleetClient(NA, TOKEN, allowed_base_urls=GLOBAL_ALLOWLIST, session=borrowed).me()

    assert mocked.calls[0].request.headers["User-Agent"] == "Borrowed/1"


def test_421_suggesting_the_current_region_is_not_retried(mocked):
    mocked.get(f"{NA}/api/1/users/me", json=out_of_region(NA), status=421)

    with pytest.raises(WrongRegion, match="and no allowlisted base URL was suggested"):
        client(NA).me()

    assert len(mocked.calls) == 1


def test_a_region_named_in_body_and_alt_svc_is_suggested_once():
    response = answer(421, out_of_region(EU), headers={"Alt-Svc": f'h2="{EU}"'})

    assert suggested_base_urls(response) == [EU]


def test_status_is_heard_by_the_observer_and_loses_only_its_quotes(mocked):
    mocked.get(f"{NA}/status", body='"READY-BOX"', content_type="text/plain")
    observer = RecordingObserver()
    api = FleetClient(NA, TOKEN, allowed_base_urls=GLOBAL_ALLOWLIST, observer=observer)

    assert api.status() == "READY-BOX"
    assert observer.heard == [
        ("before", "GET", "/status", NA),
        ("response", "GET", "/status", 200, NA),
    ]


@pytest.mark.parametrize("body", [7, {"fleet_telemetry_errors": 5}, True])
def test_telemetry_errors_of_a_non_list_shape_are_none(body):
    assert TelemetryError.list_from_json(body) == []


def test_a_numeric_next_page_is_followed_as_sent():
    # JSON numbers are already ints: the nine-digit cap only guards int() on text.
    asked = []

    def fetch(page: int, per_page: int) -> VehiclePage:
        asked.append(page)
        return VehiclePage([vehicle(1)], None, {"next": 10**12 if page == 1 else None})

    list(vehicle_pages(fetch))

    assert asked == [1, 10**12]
