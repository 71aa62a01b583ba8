"""Tools for the security sweep: every URL pattern, secret canaries, row snapshots, and the
task messages a flow publishes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Pattern:
    """One URL pattern as the root resolver serves it."""

    key: str  # "namespace:name", or the route itself for an unnamed pattern
    name: str | None  # reversible name, with its namespaces
    route: str
    kwargs: tuple[str, ...]
    callback: Any


def _kwarg_names(pattern: Any) -> list[str]:
    # RoutePattern names its converters; a RegexPattern (re_path) has named groups instead.
    names = list(getattr(pattern, "converters", None) or {})
    regex = getattr(pattern, "regex", None)
    if not names and regex is not None:
        names = list(regex.groupindex)
    return names


def url_patterns() -> list[Pattern]:
    """Every pattern of the project, walking included resolvers recursively."""
    found: list[Pattern] = []

    def walk(resolver: URLResolver, prefix: str, namespace: str, kwargs: list[str]) -> None:
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            names = kwargs + _kwarg_names(entry.pattern)
            if isinstance(entry, URLResolver):
                inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
                walk(entry, route, inner, names)
            elif isinstance(entry, URLPattern):
                name = f"{namespace}{entry.name}" if entry.name else None
                found.append(Pattern(name or route, name, route, tuple(names), entry.callback))

    walk(get_resolver(), "", "", [])
    unique = {(p.key, p.route): p for p in found}
    return list(unique.values())


@dataclass
class Canaries:
    """Secrets that must never show up anywhere: whole, nor recognisable pieces of them."""

    pieces: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, secret: str) -> None:
        if not secret:
            return
        self.pieces[secret] = label
        if len(secret) > 40:
            self.pieces[secret[:20]] = f"{label} (first 20 characters)"
            self.pieces[secret[-20:]] = f"{label} (last 20 characters)"
        if secret.count(".") == 2:
            # A JWT's first 20 characters are its header, shared by every token Tesla signs;
            # the signature is the part that is unique to this one.
            signature = secret.rsplit(".", 1)[1]
            if len(signature) >= 20:
                self.pieces[signature[:20]] = f"{label} (signature)"

    def add_pem(self, label: str, pem: str, *, public: str = "") -> None:
        """A PEM, and pieces of every line of its body (a fragment of a key is still a leak).

        A private key's PEM also encodes the public point: pieces found in `public` (the
        public key, which is published) are left out.
        """
        self.add(label, pem.strip())
        for line in pem.splitlines():
            if line.startswith("-----") or len(line) < 20:
                continue
            for piece in (line[:20], line[-20:]):
                if piece not in public:
                    self.pieces[piece] = f"{label} (a piece of its body)"

    def found_in(self, text: str | bytes) -> list[str]:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        return sorted({label for piece, label in self.pieces.items() if piece in text})


# Rows that a GET may legitimately write: the session, caches of what Tesla issued, and the
# usage meter (a page that asks Tesla something counts that request: usage/recorder.py).
SNAPSHOT_SKIP = {"sessions.session", "partners.partnertoken", "usage.apicallday"}
SNAPSHOT_SKIP_FIELDS = {"last_login"}  # signing the test personas in writes it


def snapshot() -> dict[str, list[str]]:
    """Every row of every model (there are few in a test), to prove a request wrote nothing."""
    rows: dict[str, list[str]] = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in SNAPSHOT_SKIP or model._meta.proxy:
            continue
        rows[label] = sorted(
            repr(sorted((k, v) for k, v in row.items() if k not in SNAPSHOT_SKIP_FIELDS))
            for row in model.objects.values()
        )
    return rows


def snapshot_diff(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return [label for label in before if before[label] != after.get(label)]


@dataclass
class Published:
    """One task message as it would have gone to the broker."""

    task: str
    args: tuple
    kwargs: dict
    headers: dict
    raw: str


@contextmanager
def task_messages(monkeypatch: Any) -> Iterator[list[Published]]:
    """Record every task message published (signal and producer), sending none of them:
    nothing is left in the test broker for a later worker test to pick up."""
    from celery.signals import before_task_publish
    from kombu.messaging import Producer

    messages: list[Published] = []

    def on_publish(sender: str | None = None, body: Any = None, headers: Any = None, **kw: Any):
        args, kwargs = (body[0], body[1]) if isinstance(body, tuple | list) else ((), {})
        messages.append(
            Published(
                task=str(sender),
                args=tuple(args),
                kwargs=dict(kwargs),
                headers=dict(headers or {}),
                raw=repr(body) + repr(headers) + repr(kw.get("properties")),
            )
        )

    def publish(self: Producer, body: Any, *args: Any, **kwargs: Any) -> None:
        # The serialised form too: whatever reaches the broker is in here.
        messages.append(
            Published("<producer>", (), {}, dict(kwargs.get("headers") or {}), repr(body))
        )

    monkeypatch.setattr(Producer, "publish", publish)
    before_task_publish.connect(on_publish, weak=False)
    try:
        yield messages
    finally:
        before_task_publish.disconnect(on_publish)
