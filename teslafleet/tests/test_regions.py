from __future__ import annotations

import dataclasses

import pytest

from teslafleet.regions import PRODUCTION, get_table, normalise_base_url

NA = "https://fleet-api.prd.na.vn.cloud.tesla.com"
EU = "https://fleet-api.prd.eu.vn.cloud.tesla.com"
CN = "https://fleet-api.prd.cn.vn.cloud.tesla.cn"


def test_production_global_server_authorizes_on_auth_tesla_and_mints_on_fleet_auth():
    server = get_table("production").auth_server("global")

    assert server.authorize_url == "https://auth.tesla.com/oauth2/v3/authorize"
    assert server.token_url == "https://fleet-auth.prd.vn.cloud.tesla.com/oauth2/v3/token"
    assert server.issuer == "https://auth.tesla.com/oauth2/v3"
    assert server.region_codes == ("NA", "EU")


def test_production_china_server_uses_auth_tesla_cn_for_everything():
    server = get_table("production").auth_server("cn")

    assert server.authorize_url == "https://auth.tesla.cn/oauth2/v3/authorize"
    assert server.token_url == "https://auth.tesla.cn/oauth2/v3/token"
    assert server.issuer == "https://auth.tesla.cn/oauth2/v3"
    assert server.region_codes == ("CN",)


def test_production_audiences_are_the_fleet_base_urls():
    table = get_table("production")

    assert {r.code: r.audience for r in table.regions} == {"NA": NA, "EU": EU, "CN": CN}
    assert all(r.audience == r.base_url for r in table.regions)


def test_global_tokens_may_only_go_to_na_and_eu_and_china_tokens_only_to_cn():
    assert PRODUCTION.fleet_allowlist("global") == frozenset({NA, EU})
    assert PRODUCTION.fleet_allowlist("cn") == frozenset({CN})


def test_pairing_link_global_form():
    link = PRODUCTION.pairing_link("EU", "Portal.Example.com", "5YJ3000000NEXUS01")

    assert link == "https://tesla.com/_ak/portal.example.com?vin=5YJ3000000NEXUS01"


def test_pairing_link_china_form_uses_www_tesla_cn():
    link = PRODUCTION.pairing_link("CN", "portal.example.com", "LRW3000000NEXUS01")

    assert link == "https://www.tesla.cn/_ak/portal.example.com?vin=LRW3000000NEXUS01"


def test_pairing_link_without_vin_has_no_query():
    assert PRODUCTION.pairing_link("NA", "portal.example.com") == (
        "https://tesla.com/_ak/portal.example.com"
    )


def test_region_lookup_accepts_users_region_lower_case():
    assert PRODUCTION.region("eu").base_url == EU
    assert PRODUCTION.auth_server_for_region("cn").key == "cn"
    with pytest.raises(KeyError):
        PRODUCTION.region("APAC")


def test_region_for_base_url_ignores_trailing_slash_and_host_case():
    region = PRODUCTION.region_for_base_url("https://FLEET-API.prd.eu.vn.cloud.tesla.com/")
    lookalike = PRODUCTION.region_for_base_url(f"{EU}.evil.example")

    assert region is not None and region.code == "EU"
    assert lookalike is None


def test_sandbox_table_follows_the_emulator_layout_under_the_default_root():
    table = get_table("sandbox")
    root = "http://127.0.0.1:8001"

    global_server = table.auth_server("global")
    assert global_server.authorize_url == f"{root}/auth/global/oauth2/v3/authorize"
    assert global_server.token_url == f"{root}/auth/global/oauth2/v3/token"
    assert global_server.issuer == f"{root}/auth/global/oauth2/v3"
    cn_server = table.auth_server("cn")
    assert cn_server.authorize_url == f"{root}/auth/cn/oauth2/v3/authorize"
    assert cn_server.token_url == f"{root}/auth/cn/oauth2/v3/token"
    assert cn_server.issuer == f"{root}/auth/cn/oauth2/v3"
    assert {r.code: r.audience for r in table.regions} == {
        "NA": f"{root}/fleet/na",
        "EU": f"{root}/fleet/eu",
        "CN": f"{root}/fleet/cn",
    }
    assert table.fleet_allowlist("global") == frozenset({f"{root}/fleet/na", f"{root}/fleet/eu"})
    assert table.fleet_allowlist("cn") == frozenset({f"{root}/fleet/cn"})
    assert table.pairing_link("CN", "portal.test", "VIN1") == f"{root}/_ak/portal.test?vin=VIN1"


def test_sandbox_table_takes_a_custom_root_with_trailing_slash():
    table = get_table("sandbox", "http://emulator:9000/")

    assert table.region("eu").base_url == "http://emulator:9000/fleet/eu"
    assert table.auth_server("global").token_url == (
        "http://emulator:9000/auth/global/oauth2/v3/token"
    )


def test_unknown_env_is_rejected():
    with pytest.raises(ValueError, match="TESLA_ENV"):
        get_table("staging")


def test_tables_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRODUCTION.regions[0].base_url = "https://evil.example.com"  # type: ignore[misc]


def test_normalise_base_url_strips_slashes_and_lowercases_host_only():
    assert normalise_base_url(" HTTPS://Host.Example/Fleet/EU/ ") == "https://host.example/Fleet/EU"
