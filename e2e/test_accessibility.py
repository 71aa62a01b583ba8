"""Every page state of the portal under axe-core's WCAG 2.1 A and AA rules, in English and
Chinese, light and dark: zero violations, and nothing on the browser console (a missing
favicon, a script the Content-Security-Policy refused).

axe-core comes with the pinned axe-playwright-python (requirements-dev.txt), which bundles
axe.min.js: nothing is downloaded at test time. One signed-in browser page per role visits
the states in PAGES; adding a page is one line there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from axe_playwright_python.base import AXE_SCRIPT

from conftest import ARTIFACTS, PASSWORD
from e2e.conftest import consent_at_tesla, eventually, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LANGUAGES = ["en", "zh-hans"]
COLOUR_SCHEMES = ["light", "dark"]
MODEL_3 = "5YJ3E1EA7PF000001"  # alice's online Model 3, without the portal's key

ANONYMOUS, OWNER, NEWCOMER, STAFF = "anonymous", "owner", "newcomer", "staff"


def submit(values: dict[str, str], button: str = "main form button[type=submit]"):
    """An action for a form's error state: fill `values` (selector → text), press `button`."""

    def act(page):
        for selector, value in values.items():
            page.fill(selector, value)
        with page.expect_navigation() as navigation:
            page.locator(button).last.click()
        return navigation.value

    return act


@dataclass(frozen=True)
class State:
    name: str
    role: str
    # Formatted with the ids of the world the test builds ({car}, {config}, {vin}).
    path: str
    act: Callable | None = None
    status: int = 200


PAGES = [
    # Anonymous pages.
    State("home", ANONYMOUS, "/"),
    State("sign in", ANONYMOUS, "/accounts/login/"),
    State(
        "sign in, wrong password",
        ANONYMOUS,
        "/accounts/login/",
        submit({"input[name=login]": "owner@example.com", "input[name=password]": "wrong"}),
    ),
    State("sign up", ANONYMOUS, "/accounts/signup/"),
    State(
        "sign up, errors",
        ANONYMOUS,
        "/accounts/signup/",
        submit(
            {
                "input[name=email]": "a@b",
                "input[name=password1]": "short",
                "input[name=password2]": "other",
            }
        ),
    ),
    State("password reset", ANONYMOUS, "/accounts/password/reset/"),
    State(
        "password reset, errors",
        ANONYMOUS,
        "/accounts/password/reset/",
        submit({"input[name=email]": "a@b"}),
    ),
    State("password reset sent", ANONYMOUS, "/accounts/password/reset/done/"),
    State("confirm your email", ANONYMOUS, "/accounts/confirm-email/"),
    State("confirm your email, bad link", ANONYMOUS, "/accounts/confirm-email/no-such-key/"),
    State("password reset, bad link", ANONYMOUS, "/accounts/password/reset/key/1-no-such-key/"),
    State("not found", ANONYMOUS, "/no-such-page/", status=404),
    # An owner without a Tesla account linked.
    State("dashboard, no links", NEWCOMER, "/dashboard/"),
    State("vehicles, none", NEWCOMER, "/vehicles/"),
    State("permission needed", NEWCOMER, "/staff/links/", status=403),
    # An owner with alice's account and links in every health state.
    State("dashboard, links", OWNER, "/dashboard/"),
    State("vehicles", OWNER, "/vehicles/"),
    State("vehicles, filter matches none", OWNER, "/vehicles/?region=CN"),
    State("vehicle with pairing box", OWNER, "/vehicles/{car}/"),
    State("vehicle telemetry, owner", OWNER, "/telemetry/vehicles/{car}/"),
    State("live", OWNER, "/telemetry/vehicles/{car}/live/"),
    State("email addresses", OWNER, "/accounts/email/"),
    State(
        "email addresses, error",
        OWNER,
        "/accounts/email/",
        submit({"input[name=email][type=email]": "a@b"}, "main form button[name=action_add]"),
    ),
    State("finish linking by pasting", OWNER, "/links/paste/"),
    State(
        "finish linking by pasting, error",
        OWNER,
        "/links/paste/",
        submit({"input[name=callback_url]": "https://example.com/"}),
    ),
    State("sign out", OWNER, "/accounts/logout/"),
    State("change password", OWNER, "/accounts/password/change/"),
    State(
        "change password, errors",
        OWNER,
        "/accounts/password/change/",
        submit(
            {
                "input[name=oldpassword]": "wrong",
                "input[name=password1]": "short",
                "input[name=password2]": "other",
            }
        ),
    ),
    # Staff holding every staff permission.
    State("partner onboarding", STAFF, "/staff/partner/"),
    State("pairing link", STAFF, "/staff/partner/pairing/?region=NA&vin={vin}"),
    State(
        "pairing link, error", STAFF, "/staff/partner/pairing/?region=NA&vin=NOTAVIN", status=400
    ),
    State("token status", STAFF, "/staff/links/"),
    State("fleet roster", STAFF, "/vehicles/roster/"),
    State("telemetry configurations", STAFF, "/telemetry/"),
    State("telemetry configuration", STAFF, "/telemetry/{config}/"),
    State(
        "telemetry configuration, assign error",
        STAFF,
        "/telemetry/{config}/",
        submit({"[name=vins]": "NOTAVIN"}, "main form[action$='/assign/'] button"),
        status=400,
    ),
    State("telemetry builder, new", STAFF, "/telemetry/new/"),
    State(
        "telemetry builder, errors",
        STAFF,
        "/telemetry/new/",
        submit({"input[name=name]": "", "input[name=port]": "0"}),
        status=400,
    ),
    State("telemetry builder, edit", STAFF, "/telemetry/{config}/edit/"),
    State("remove confirmation", STAFF, "/telemetry/{config}/remove/?vehicle={car}"),
    State("telemetry error inbox", STAFF, "/telemetry/errors/"),
    State("fleet list", STAFF, "/telemetry/fleet/"),
    State("usage and cost", STAFF, "/staff/usage/"),
    State("fleet list, filtered", STAFF, "/telemetry/fleet/?region=NA&key_paired=no"),
    State("telemetry overview", STAFF, "/telemetry/overview/"),
    State("vehicle telemetry, staff", STAFF, "/telemetry/vehicles/{car}/"),
]


def test_every_page_state_passes_axe_in_both_languages_and_colour_schemes(
    portal, chromium, owner, other_user, staff_with, settings
):
    from conftest import EXTERNAL_CALLBACK

    base = portal.url
    world = _build_world(chromium, base, owner)
    # Linking then offers the paste path too (a callback outside the portal).
    settings.TESLA_REDIRECT_URI = EXTERNAL_CALLBACK
    staff = staff_with(
        "partners.manage_partner",
        "accounts.view_link_status",
        "vehicles.manage_roster",
        "telemetry.manage_telemetry",
        "usage.view_usage",
        email="staff@example.com",
    )
    signed_in = {ANONYMOUS: None, OWNER: owner, NEWCOMER: other_user, STAFF: staff}

    problems: list[str] = []
    visited = 0
    for role, user in signed_in.items():
        states = [s for s in PAGES if s.role == role]
        visited += _visit(chromium, base, user, states, world, problems)

    assert visited == len(PAGES) * len(LANGUAGES) * len(COLOUR_SCHEMES)
    if problems:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "accessibility.txt").write_text("\n".join(problems) + "\n")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def _visit(chromium, base: str, user, states: list[State], world: dict, problems: list) -> int:
    """One browser page signed in as `user` visits `states` in each language and scheme,
    adding what it finds to `problems`; returns the number of (state, language, scheme)."""
    # Reduced motion: Pico then switches colours without a transition, so axe never measures
    # a link halfway from one scheme's colour to the other's.
    context = chromium.new_context(locale="en-US", reduced_motion="reduce")
    context.set_default_timeout(15_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: m.type == "error" and console.append(_where(m)))
    page.on("pageerror", lambda e: console.append(f"{e} (uncaught)"))
    visited = 0
    try:
        if user is not None:
            sign_in(page, base, user.email, PASSWORD)
        for language in LANGUAGES:
            context.add_cookies([{"name": "django_language", "value": language, "url": base}])
            for state in states:
                console.clear()
                response = page.goto(base + state.path.format(**world))
                if state.act is not None:
                    response = state.act(page)
                label = f"{state.name} [{language}, {page.url.removeprefix(base)}]"
                if response.status != state.status:
                    problems.append(f"{label}: HTTP {response.status}, not {state.status}")
                if page.locator("html").get_attribute("lang") != language:
                    problems.append(f"{label}: not in {language}")
                for scheme in COLOUR_SCHEMES:
                    page.emulate_media(color_scheme=scheme)
                    problems += [f"{label} {scheme}: {v}" for v in _axe_violations(page)]
                    problems += [f"{label} {scheme}: {q}" for q in _unreadable_qr(page)]
                    visited += 1
                problems += [f"{label}: {p}" for p in _dangling_references(page)]
                problems += [f"{label}: {p}" for p in _nested_labels(page)]
                problems += [
                    f"{label}: console: {line}"
                    for line in console
                    # An error page's own status is on the console, as for any error page.
                    if not (state.status >= 400 and line.endswith(f"at {page.url}"))
                ]
    except Exception as error:
        error.add_note(f"while visiting {page.url} as {user or 'anonymous'}")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "accessibility_failure.png"), full_page=True)
        raise
    finally:
        context.close()
    return visited


def _axe_violations(page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is, one line per element."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SCRIPT)
    options = {"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]}
    results = page.evaluate("options => axe.run(document, options)", options)
    return [
        f"{v['id']} ({v['impact']}) at {' '.join(node['target'])}: {_first_check(node)}"
        for v in results["violations"]
        for node in v["nodes"]
    ]


def _unreadable_qr(page) -> list[str]:
    """axe does not measure pictures: the pairing QR's black modules need a white background
    in both schemes, or a phone cannot read it off the dark card."""
    backgrounds = page.eval_on_selector_all(
        "svg.pairing-qr", "qrs => qrs.map(qr => getComputedStyle(qr).backgroundColor)"
    )
    return [f"pairing QR on {b}, not white" for b in backgrounds if b != "rgb(255, 255, 255)"]


def _dangling_references(page) -> list[str]:
    """aria-describedby and aria-labelledby naming ids the page lacks: axe reports those only
    as "needs review", yet a screen reader then announces nothing (an error never heard)."""
    return page.evaluate(
        """() => [...document.querySelectorAll("[aria-describedby], [aria-labelledby]")]
        .flatMap(el => ["aria-describedby", "aria-labelledby"]
          .flatMap(attr => (el.getAttribute(attr) || "").split(/\\s+/).filter(Boolean)
            .filter(id => !document.getElementById(id))
            .map(id => `${attr} of ${el.tagName.toLowerCase()}#${el.id} names no #${id}`)))"""
    )


def _nested_labels(page) -> list[str]:
    """A label inside a label (checkboxes' own labels in a field's label): invalid HTML whose
    name a screen reader reads as one run of text; axe's WCAG rules let it pass."""
    return page.eval_on_selector_all(
        "label label",
        "inner => inner.map(l => `label inside a label: ${l.textContent.trim().slice(0, 40)}`)",
    )


def _first_check(node: dict) -> str:
    checks = node["any"] + node["all"] + node["none"]
    return checks[0]["message"] if checks else node["failureSummary"]


def _where(message) -> str:
    url = message.location.get("url", "")
    return f"{message.text} at {url}" if url else message.text


def _build_world(chromium, base: str, owner) -> dict[str, object]:
    """The owner links alice's Tesla account in the browser and the worker syncs her cars; a
    config is assigned and pushed state recorded; links in every other health state."""
    from django.utils import timezone

    from accounts.models import TeslaLink
    from telemetry import services
    from telemetry.models import TelemetryDeployment
    from telemetry.tests.factories import make_config
    from vehicles.models import Vehicle
    from vehicles.tests.factories import make_link

    context = chromium.new_context(locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in(page, base, owner.email, PASSWORD)
        page.get_by_role("button", name="Link Tesla account (Global)").click()
        consent_at_tesla(page, "alice@example.com")
        eventually(page, f"{base}/vehicles/", lambda p: p.get_by_text(MODEL_3).count() > 0)
    finally:
        context.close()

    for health in ("retrying", "needs_relink", "revoked"):
        link = make_link(owner)
        TeslaLink.objects.filter(pk=link.pk).update(health=health, health_reason=f"e2e {health}")
    car = Vehicle.objects.get(vin=MODEL_3)
    assert car.key_paired is not True
    others = list(Vehicle.objects.exclude(pk=car.pk)[:2])
    config = make_config(name="Fleet basics")
    services.telemetry_config_assign(config=config, vins=[v.vin for v in [car, *others]], user=None)
    version = services.telemetry_version_current(config=config)
    now = timezone.now()
    # A pending, a skipped and a failed car: the inbox and the config page have rows.
    TelemetryDeployment.objects.create(vehicle=car, version=version, pushed_at=now)
    for vehicle, status, reason, error in zip(
        others, ["skipped", "failed"], ["missing_key", ""], ["", "e2e: Tesla said no"], strict=True
    ):
        TelemetryDeployment.objects.create(
            vehicle=vehicle, version=version, status=status, reason=reason, error=error
        )
    return {"car": car.pk, "config": config.pk, "vin": car.vin}
