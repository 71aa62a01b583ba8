"""Drive the Tesla link flow the way a browser would: portal → sandbox consent → callback."""

from __future__ import annotations

from urllib.parse import urlsplit

from sandbox import testing as sandbox_testing


def start_link(client, provider: str = "tesla") -> str:
    """Press "Link Tesla account"; returns the authorize URL the portal redirects to."""
    response = client.post(f"/accounts/{provider}/login/?process=connect", {"process": "connect"})
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def start_relink(client, link_pk: int) -> str:
    """Press "Relink" on a link's row; returns the authorize URL the portal redirects to."""
    response = client.post(f"/links/{link_pk}/relink/")
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def consent(
    authorize_url: str,
    email: str,
    *,
    action: str = "approve",
    granted: list[str] | None = None,
) -> str:
    """Sign in at the sandbox as `email` and approve (or cancel); returns the callback URL."""
    return sandbox_testing.consent(authorize_url, email, action=action, granted=granted)


def finish(client, callback_url: str, *, path: str | None = None):
    """Follow Tesla's redirect back into the portal (optionally to another callback path)."""
    parts = urlsplit(callback_url)
    return client.get(f"{path or parts.path}?{parts.query}", follow=True)


def link(client, email: str, provider: str = "tesla", **consent_kwargs):
    """The whole happy path; returns the final response (the dashboard)."""
    return finish(client, consent(start_link(client, provider), email, **consent_kwargs))


def token_calls(sandbox) -> int:
    return sum(1 for r in sandbox.control.requests() if r["path"].endswith("/oauth2/v3/token"))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
