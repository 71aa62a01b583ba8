"""One writer of a token pair (services._pair_store) for linking, relinking and refreshing,
and the signal a stored link sends once it has committed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import TeslaLink
from accounts.signals import link_connected

REQUIRED = ["openid", "offline_access", "vehicle_device_data"]


def _profile(**changes):
    profile = {
        "sub": "tesla-user-1",
        "auth_server": "global",
        "scopes": REQUIRED,
        "region": "NA",
        "fleet_api_base_url": "http://127.0.0.1:8001/fleet/na",
        "email": "alice@example.com",
        "full_name": "Alice",
    }
    return profile | changes


def _store(user, **kwargs) -> TeslaLink:
    values = {"profile": _profile(), "access_token": "a1", "refresh_token": "r1"} | kwargs
    return services.link_store(user=user, expires_at=None, **values)


@pytest.fixture
def heard(monkeypatch) -> list[tuple[type, int]]:
    """The links link_connected announces; vehicles' own receiver (it queues a sync, tested in
    vehicles) is out of the way."""
    calls: list[int] = []
    monkeypatch.setattr(link_connected, "receivers", [])
    link_connected.connect(lambda sender, link, **kw: calls.append((sender, link.pk)), weak=False)
    return calls


@pytest.mark.django_db
def test_a_stored_link_sends_link_connected_once_committed(
    owner, heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        link = _store(owner)
        assert heard == []  # not before the link is committed: a worker could not read it
    assert heard == [(TeslaLink, link.pk)]  # sent by the model, for receivers that filter on it


@pytest.mark.django_db
def test_a_new_chain_without_a_refresh_token_needs_a_relink_naming_offline_access(owner):
    link = _store(owner, refresh_token="")
    assert link.health == TeslaLink.Health.NEEDS_RELINK
    assert link.health_reason == "missing_scopes:offline_access"
    assert link.refresh_token == ""


@pytest.mark.django_db
def test_a_relink_replaces_the_whole_pair_and_its_scopes(owner):
    _store(owner)
    link = _store(owner, access_token="a2", refresh_token="", profile=_profile(scopes=["openid"]))
    link.refresh_from_db()
    assert (link.access_token, link.refresh_token) == ("a2", "")
    assert link.scopes == ["openid"]
    assert link.health == TeslaLink.Health.NEEDS_RELINK
    assert link.health_reason == "missing_scopes:offline_access,vehicle_device_data"


@pytest.mark.django_db
def test_a_relink_with_every_scope_heals_a_broken_link_and_clears_its_reason(owner):
    _store(owner, refresh_token="")
    link = _store(owner, access_token="a2", refresh_token="r2")
    link.refresh_from_db()
    assert (link.health, link.health_reason) == (TeslaLink.Health.OK, "")


@pytest.mark.django_db
def test_a_relink_without_scopes_replaces_the_links_with_none(owner):
    _store(owner)
    link = _store(owner, access_token="a2", refresh_token="r2", profile=_profile(scopes=[]))
    link.refresh_from_db()
    assert link.scopes == []
    assert link.health_reason == "missing_scopes:openid,offline_access,vehicle_device_data"


@pytest.mark.django_db
def test_a_refresh_without_a_refresh_token_keeps_the_links_and_its_scopes(owner):
    link = _store(owner)
    issued = link.refresh_token_issued_at
    now = timezone.now() + dt.timedelta(minutes=5)
    services._pair_store(
        link,
        access_token="a2",
        refresh_token="",
        expires_at=now + dt.timedelta(hours=8),
        scopes=[],
        now=now,
        new_chain=False,
    )
    assert (link.access_token, link.refresh_token) == ("a2", "r1")
    assert link.refresh_token_issued_at == issued
    assert link.scopes == REQUIRED and link.health == TeslaLink.Health.OK


@pytest.mark.django_db
def test_a_refresh_with_narrowed_scopes_needs_a_relink_and_notifies_the_owner(
    owner, django_capture_on_commit_callbacks, monkeypatch
):
    link = _store(owner)
    queued = []
    monkeypatch.setattr(
        "accounts.tasks.link_notify_needs_relink.delay_on_commit", lambda pk: queued.append(pk)
    )
    now = timezone.now()
    services._pair_store(
        link,
        access_token="a2",
        refresh_token="r2",
        expires_at=None,
        scopes=["openid", "offline_access"],
        now=now,
        new_chain=False,
    )
    assert link.refresh_token == "r2" and link.refresh_token_issued_at == now
    assert link.health == TeslaLink.Health.NEEDS_RELINK
    assert link.health_reason == "missing_scopes:vehicle_device_data"
    assert queued == [link.pk]


@pytest.mark.django_db
def test_linking_with_missing_scopes_sends_no_email(owner, monkeypatch):
    # The owner is on the page that says so; the email is for a link that breaks later.
    queued = []
    monkeypatch.setattr(
        "accounts.tasks.link_notify_needs_relink.delay_on_commit", lambda pk: queued.append(pk)
    )
    link = _store(owner, profile=_profile(scopes=["openid"]))
    assert link.health == TeslaLink.Health.NEEDS_RELINK
    assert queued == []


@pytest.mark.django_db
def test_a_stored_link_keeps_the_profile_and_the_given_expiry(owner):
    expires_at = timezone.now() + dt.timedelta(minutes=17)
    link = services.link_store(
        user=owner,
        profile=_profile(region="EU", fleet_api_base_url="http://127.0.0.1:8001/fleet/eu"),
        access_token="a1",
        refresh_token="r1",
        expires_at=expires_at,
    )
    stored = TeslaLink.objects.get(pk=link.pk)
    assert (stored.user_id, stored.auth_server, stored.subject) == (
        owner.pk,
        "global",
        "tesla-user-1",
    )
    assert (stored.region, stored.fleet_api_base_url) == ("EU", "http://127.0.0.1:8001/fleet/eu")
    assert (stored.email, stored.full_name) == ("alice@example.com", "Alice")
    assert (stored.access_token, stored.refresh_token) == ("a1", "r1")
    assert stored.access_token_expires_at == expires_at
    assert stored.scopes == REQUIRED and stored.health == TeslaLink.Health.OK


@pytest.mark.django_db
def test_a_pair_without_an_expiry_is_taken_to_last_eight_hours(owner):
    before = timezone.now()
    link = _store(owner)
    eight_hours = dt.timedelta(hours=8)
    stored = TeslaLink.objects.get(pk=link.pk)
    assert before + eight_hours <= stored.access_token_expires_at <= timezone.now() + eight_hours
    assert before <= stored.last_refreshed_at <= timezone.now()
    assert stored.refresh_token_issued_at == stored.last_refreshed_at


@pytest.mark.django_db
def test_a_profile_without_email_name_or_scopes_stores_them_empty(owner):
    profile = _profile()
    del profile["email"], profile["full_name"], profile["scopes"]
    link = _store(owner, profile=profile)
    stored = TeslaLink.objects.get(pk=link.pk)
    assert (stored.email, stored.full_name, stored.scopes) == ("", "", [])
    assert stored.health_reason == "missing_scopes:" + ",".join(REQUIRED)


@pytest.mark.django_db
def test_the_same_subject_at_another_auth_server_is_another_link(owner, other_user):
    china = _store(owner, profile=_profile(auth_server="cn", region="CN"))
    global_link = _store(owner)
    assert global_link.pk != china.pk
    assert TeslaLink.objects.get(pk=china.pk).region == "CN"
    # Nor does another user's link at another server block this one.
    theirs = _store(other_user, profile=_profile(sub="tesla-user-9", auth_server="cn"))
    mine = _store(owner, profile=_profile(sub="tesla-user-9"))
    assert (theirs.user_id, mine.user_id) == (other_user.pk, owner.pk)


@pytest.mark.django_db
def test_unlinking_deletes_only_that_links_allauth_record(owner):
    from allauth.socialaccount.models import SocialAccount

    link = _store(owner)
    other_account = _store(owner, profile=_profile(sub="tesla-user-2"))
    provider = link.provider_id
    SocialAccount.objects.create(user=owner, provider=provider, uid="tesla-user-1")
    SocialAccount.objects.create(user=owner, provider=provider, uid="tesla-user-2")
    # The same subject under another provider (the China server's) is another account.
    SocialAccount.objects.create(user=owner, provider="tesla_cn", uid="tesla-user-1")
    services.link_unlink(link=link)
    assert not TeslaLink.objects.filter(pk=link.pk).exists()
    assert TeslaLink.objects.filter(pk=other_account.pk).exists()
    kept = set(SocialAccount.objects.values_list("user_id", "provider", "uid"))
    assert kept == {
        (owner.pk, provider, "tesla-user-2"),
        (owner.pk, "tesla_cn", "tesla-user-1"),
    }


@pytest.mark.django_db
def test_unlinking_never_deletes_another_users_allauth_record(owner, other_user):
    from allauth.socialaccount.models import SocialAccount

    link = _store(owner)
    # A record of the same Tesla account held by another user (left over, or made by allauth
    # itself): it is theirs, not part of the owner's link.
    SocialAccount.objects.create(user=other_user, provider=link.provider_id, uid=link.subject)
    services.link_unlink(link=link)
    assert not TeslaLink.objects.filter(pk=link.pk).exists()
    assert SocialAccount.objects.filter(user=other_user, uid=link.subject).exists()


@pytest.mark.django_db
def test_a_language_the_portal_offers_is_kept_on_the_profile_alone(owner):
    owner.first_name = "unsaved edit"
    assert services.user_language_set(user=owner, language="zh-hans") is True
    stored = type(owner).objects.get(pk=owner.pk)
    assert stored.language == "zh-hans"
    assert stored.first_name != "unsaved edit"  # only the language column is written


@pytest.mark.django_db
def test_the_language_the_user_already_has_is_not_written_again(owner, django_assert_num_queries):
    assert services.user_language_set(user=owner, language="zh-hans") is True
    with django_assert_num_queries(0):
        assert services.user_language_set(user=owner, language="zh-hans") is True


@pytest.mark.django_db
def test_a_language_the_portal_does_not_offer_is_refused_and_not_stored(owner):
    before = type(owner).objects.get(pk=owner.pk).language
    assert services.user_language_set(user=owner, language="xx") is False
    assert type(owner).objects.get(pk=owner.pk).language == before


def _sandbox_tokens(owner_client, owner, email="alice@example.com"):
    """A real token set the sandbox issued to a linked user (global server, user_data)."""
    from accounts.tests.tesla_flow import link as link_through_tesla
    from teslafleet import oauth

    link_through_tesla(owner_client, email)
    access = TeslaLink.objects.get(user=owner, email=email).access_token
    claims = oauth.decode_claims(access)
    assert "user_data" in claims.scp
    return oauth.TokenSet(
        access_token=access,
        refresh_token=None,
        id_token=None,
        expires_in=28800,
        token_type="Bearer",
        scope=None,
        claims=claims,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("named", ["cn", "https://fleet-api.example.net"])
def test_a_profile_refuses_a_fleet_url_outside_the_servers_regions(
    owner_client, owner, tesla_apps, tesla_sandbox, named
):
    from teslafleet.fleet import BaseURLNotAllowed

    tokens = _sandbox_tokens(owner_client, owner)
    # Another server's region (China, for a global token), or no region of Tesla's at all.
    url = tesla_sandbox.fleet(named) if "://" not in named else named
    tesla_sandbox.control.fault(
        "/api/1/users/region",
        status=200,
        body={"response": {"region": named, "fleet_api_base_url": url}},
        count=1,
    )
    tesla_sandbox.control.clear_requests()
    with pytest.raises(BaseURLNotAllowed) as raised:
        services.tesla_profile(auth_server_key="global", tokens=tokens)
    assert str(raised.value) == "Tesla named a Fleet API base URL outside this server's regions"
    assert raised.value.error == "base_url_not_allowed"
    # The token went nowhere else: /users/me is never asked.
    assert [r["path"] for r in tesla_sandbox.control.requests()] == ["/fleet/na/api/1/users/region"]


@pytest.mark.django_db
def test_a_profile_asks_the_region_the_token_names_first(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    tokens = _sandbox_tokens(owner_client, owner, "erika@example.de")
    assert tokens.claims.ou_code.upper() == "EU"
    tesla_sandbox.control.clear_requests()
    profile = services.tesla_profile(auth_server_key="global", tokens=tokens)
    assert [r["path"] for r in tesla_sandbox.control.requests()] == [
        "/fleet/eu/api/1/users/region",
        "/fleet/eu/api/1/users/me",
    ]
    assert (profile["region"], profile["fleet_api_base_url"]) == ("EU", tesla_sandbox.fleet("eu"))
    assert (profile["sub"], profile["auth_server"]) == (tokens.claims.sub, "global")
    assert profile["email"] == "erika@example.de" and profile["scopes"] == list(tokens.claims.scp)


@pytest.mark.django_db
def test_a_profile_takes_the_region_tesla_answers_and_the_users_name(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    tokens = _sandbox_tokens(owner_client, owner)  # the token names NA
    eu = tesla_sandbox.fleet("eu")
    tesla_sandbox.control.fault(
        "/api/1/users/region",
        status=200,
        body={"response": {"region": "eu", "fleet_api_base_url": eu}},
        count=1,
    )
    profile = services.tesla_profile(auth_server_key="global", tokens=tokens)
    assert (profile["region"], profile["fleet_api_base_url"]) == ("EU", eu)
    assert (profile["email"], profile["full_name"]) == ("alice@example.com", "Alice Anderson")


@pytest.mark.django_db
@pytest.mark.parametrize("me", [{}, {"email": None, "full_name": None}])
def test_a_profile_without_email_or_name_from_tesla_stores_them_empty(
    owner_client, owner, tesla_apps, tesla_sandbox, me
):
    tokens = _sandbox_tokens(owner_client, owner)
    tesla_sandbox.control.fault("/api/1/users/me", status=200, body={"response": me}, count=1)
    profile = services.tesla_profile(auth_server_key="global", tokens=tokens)
    assert (profile["email"], profile["full_name"]) == ("", "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ou_code", "region"),
    [("eu", "EU"), (None, "NA"), ("CN", "NA")],  # another server's region: this server's first
)
def test_a_profile_without_user_data_is_the_tokens_region_asked_of_no_one(
    owner_client, owner, tesla_apps, tesla_sandbox, ou_code, region
):
    import dataclasses

    tokens = _sandbox_tokens(owner_client, owner)
    claims = dataclasses.replace(tokens.claims, scp=("openid", "offline_access"), ou_code=ou_code)
    tesla_sandbox.control.clear_requests()
    profile = services.tesla_profile(
        auth_server_key="global", tokens=dataclasses.replace(tokens, claims=claims)
    )
    assert tesla_sandbox.control.requests() == []
    assert profile == {
        "sub": claims.sub,
        "auth_server": "global",
        "scopes": ["openid", "offline_access"],
        "region": region,
        "fleet_api_base_url": tesla_sandbox.fleet(region),
        "email": "",
        "full_name": "",
    }


@pytest.mark.django_db
def test_only_entering_needs_relink_notifies_and_moves_the_health_date(owner, monkeypatch):
    link = _store(owner)
    queued = []
    monkeypatch.setattr(
        "accounts.tasks.link_notify_needs_relink.delay_on_commit", lambda pk: queued.append(pk)
    )
    long_ago = timezone.now() - dt.timedelta(days=3)
    link.health_changed_at = long_ago

    def refresh(scopes):
        services._pair_store(
            link,
            access_token="a2",
            refresh_token="r2",
            expires_at=None,
            scopes=scopes,
            now=timezone.now(),
            new_chain=False,
        )

    refresh(REQUIRED)  # healthy stays healthy: no news
    assert (link.health, link.health_changed_at, queued) == (TeslaLink.Health.OK, long_ago, [])
    services._set_health(link, TeslaLink.Health.RETRYING, "unavailable:503")
    assert link.health_changed_at > long_ago and queued == []
    refresh(["openid"])  # retrying -> needs relink: the owner is told, once
    refresh(["openid"])
    assert link.health == TeslaLink.Health.NEEDS_RELINK and queued == [link.pk]
