"""The builder's form controls have names and their descriptions exist (#16 item 17).

axe-core in `make e2e` checks whole pages; this checks the two rules the builder broke, on the
server's HTML, for a fresh page and for one full of errors.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from telemetry.tests.test_views import builder_post

pytestmark = pytest.mark.django_db

VOID = {"input", "br", "img", "meta", "link", "hr", "source", "col", "wbr", "area", "base"}
CONTROLS = {"input", "select", "textarea"}


class _Controls(HTMLParser):
    """Every form control with the labels around it, every label's `for`, every id."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.controls: list[tuple[dict, list[dict]]] = []
        self.label_for: set[str] = set()
        self.ids: set[str] = set()
        self.label_controls: dict[int, int] = {}

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "label" and attrs.get("for"):
            self.label_for.add(attrs["for"])
        if tag in CONTROLS:
            labels = [a for t, a in self.stack if t == "label"]
            self.controls.append(({"tag": tag, **attrs}, labels))
            for _t, a in self.stack:
                if _t == "label":
                    self.label_controls[id(a)] = self.label_controls.get(id(a), 0) + 1
        if tag not in VOID:
            self.stack.append((tag, attrs))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


def _parse(html: str) -> _Controls:
    parser = _Controls()
    parser.feed(html)
    return parser


def _unnamed(page: _Controls) -> list[str]:
    missing = []
    for attrs, labels in page.controls:
        if attrs.get("type") == "hidden":
            continue
        named = (
            attrs.get("aria-label")
            or attrs.get("aria-labelledby")
            or attrs.get("id") in page.label_for
            or labels
        )
        if not named:
            missing.append(attrs.get("name") or attrs.get("id") or attrs["tag"])
    return missing


def _dangling_descriptions(page: _Controls) -> list[str]:
    return [
        f"{attrs.get('name')} → {ref}"
        for attrs, _labels in page.controls
        for ref in attrs.get("aria-describedby", "").split()
        if ref not in page.ids
    ]


@pytest.fixture
def pages(manager_client, partner_domain) -> dict[str, str]:
    fresh = manager_client.get("/telemetry/new/")
    broken = manager_client.post(
        "/telemetry/new/",
        builder_post(
            name="",
            hostname="https://x.example.com",
            port="0",
            exp="2000-01-01T00:00",
            alert_types=["nonsense"],
            **{"fields-0-name": "Unknown", "fields-1-interval_seconds": "0"},
        ),
    )
    assert (fresh.status_code, broken.status_code) == (200, 400)
    return {"fresh": fresh.content.decode(), "errors": broken.content.decode()}


@pytest.mark.parametrize("state", ["fresh", "errors"])
def test_every_builder_control_has_an_accessible_name(pages, state):
    page = _parse(pages[state])
    assert len(page.controls) > 40  # the field rows were parsed, not just the header
    assert _unnamed(page) == []


@pytest.mark.parametrize("state", ["fresh", "errors"])
def test_every_aria_describedby_points_at_an_element_on_the_page(pages, state):
    page = _parse(pages[state])
    described = [a for a, _l in page.controls if a.get("aria-describedby")]
    assert described  # help texts (and, with errors, the errors) are referenced
    assert _dangling_descriptions(page) == []


def test_the_errors_are_the_elements_described(pages):
    page = _parse(pages["errors"])
    refs = {a["name"]: a.get("aria-describedby", "") for a, _l in page.controls if "name" in a}
    assert "id_name_error" in refs["name"].split()
    assert "id_exp_error" in refs["exp"].split() and "id_exp_helptext" in refs["exp"].split()
    assert "id_fields-0-name_error" in refs["fields-0-name"].split()


def test_no_label_holds_more_than_one_control(pages):
    # The alert-type checkboxes sat inside the "Alert types" label: a label names one control.
    page = _parse(pages["fresh"])
    assert page.label_controls and max(page.label_controls.values()) == 1
    alert = [labels for a, labels in page.controls if a.get("name") == "alert_types"]
    assert alert and all(len(labels) == 1 for labels in alert)
