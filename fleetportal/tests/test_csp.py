"""Every page carries a strict Content-Security-Policy, and no template needs an exception."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

# The security sweep's world (a linked account, cars, a partner key) and its URL table.
from fleetportal.tests.test_security import _actor, _classified, _client, url_for, world  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
APPS = ("fleetportal", "accounts", "partners", "vehicles", "telemetry")
HEADER = "Content-Security-Policy"


def _policy(response) -> dict[str, list[str]]:
    assert HEADER in response, "no Content-Security-Policy header"
    directives = {}
    for part in response[HEADER].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_strict(response, where: str) -> None:
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"], where
    assert policy["frame-ancestors"] == ["'none'"], where
    assert policy["object-src"] == ["'none'"], where
    for directive in ("script-src", "style-src", "default-src"):
        assert "'unsafe-inline'" not in policy[directive], (where, directive)
        assert "'unsafe-eval'" not in policy[directive], (where, directive)
    assert all(v == "'self'" or v.startswith("'nonce-") for v in policy["script-src"]), where


@pytest.mark.django_db
def test_every_page_answers_with_a_strict_content_security_policy(world):  # noqa: F811
    for pattern, route in _classified():
        response = _client(_actor(world, route)).get(url_for(world, pattern, route))
        _assert_strict(response, pattern.key)
    for path in ("/no-such-page/", "/accounts/login/", "/accounts/signup/", "/healthz"):
        _assert_strict(Client().get(path), path)


@pytest.mark.django_db
def test_linking_may_post_to_the_tesla_sign_in_of_the_configured_region_table(
    owner_client, tesla_apps, tesla_sandbox
):
    # Linking posts a form that redirects to the authorize URL: browsers check that redirect
    # against form-action.
    form_action = _policy(owner_client.get(reverse("dashboard")))["form-action"]
    assert form_action[0] == "'self'"
    assert tesla_sandbox.url.rstrip("/") in form_action


def _templates() -> list[Path]:
    found = [p for app in APPS for p in (ROOT / app).glob("**/templates/**/*.html")]
    assert len(found) > 15
    return found


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*\bnonce=)[^>]*>", re.I)
DATA_BLOCK = re.compile(r"type=[\"']application/(ld\+)?json[\"']", re.I)


def test_no_template_has_an_inline_script_without_a_nonce():
    offenders = [
        f"{path.relative_to(ROOT)}: {tag}"
        for path in _templates()
        for tag in INLINE_SCRIPT.findall(path.read_text())
        if not DATA_BLOCK.search(tag)
    ]
    assert offenders == []


def test_no_template_has_inline_styles_or_event_handlers():
    # style-src has no nonce and no 'unsafe-inline': such markup would be ignored by browsers.
    patterns = {
        "<style>": re.compile(r"<style\b", re.I),
        "style=": re.compile(r"\sstyle\s*=", re.I),
        "on…= handler": re.compile(r"\son[a-z]+\s*=", re.I),
        "javascript: URL": re.compile(r"javascript:", re.I),
    }
    offenders = [
        f"{path.relative_to(ROOT)}: {what}"
        for path in _templates()
        for what, pattern in patterns.items()
        if pattern.search(path.read_text())
    ]
    assert offenders == []
