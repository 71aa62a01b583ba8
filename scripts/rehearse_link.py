"""scripts/rehearse.sh's browser for the operator guide's section 10: sign in to the portal
through the proxy over HTTPS, press "Link Tesla account (Global)", consent at the sandbox as a
person would (its form, without a browser: sandbox.testing.consent) and follow the callback.

Usage: python scripts/rehearse_link.py ORIGIN CA_FILE EMAIL TESLA_USER (password in
REHEARSAL_PASSWORD). Prints the callback's answer; exits 1 with the reason on any failure.
"""

from __future__ import annotations

import os
import sys

import requests

from sandbox.testing import ControlError, consent

TIMEOUT = 20


def link(origin: str, ca_file: str, email: str, password: str, tesla_user: str) -> str:
    http = requests.Session()
    http.verify = ca_file  # the rehearsal's throwaway CA only (proxy and sandbox)
    login = f"{origin}/accounts/login/"
    page = http.get(login, timeout=TIMEOUT)
    if page.status_code != 200:
        raise SystemExit(f"the sign-in page answered {page.status_code}")
    answer = http.post(
        login,
        data={
            "csrfmiddlewaretoken": http.cookies["csrftoken"],
            "login": email,
            "password": password,
        },
        headers={"Referer": login},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    if answer.status_code != 302:
        raise SystemExit(f"signing in as {email} answered {answer.status_code}, not a redirect")
    # The dashboard's "Link Tesla account (Global)" form (the token rotates at sign-in).
    answer = http.post(
        f"{origin}/accounts/tesla/login/?process=connect",
        data={"csrfmiddlewaretoken": http.cookies["csrftoken"]},
        headers={"Referer": f"{origin}/dashboard/"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    authorize = answer.headers.get("Location", "")
    if answer.status_code != 302 or "/oauth2/v3/authorize" not in authorize:
        raise SystemExit(f"starting the link answered {answer.status_code} {authorize!r}")
    try:
        callback = consent(authorize, tesla_user, session=http)
    except ControlError as exc:
        raise SystemExit(f"consent at the sandbox: {exc}") from None
    if not callback.startswith(f"{origin}/accounts/tesla/login/callback/"):
        raise SystemExit(f"the sandbox sent the browser to {callback!r}, not the portal")
    answer = http.get(callback, allow_redirects=False, timeout=TIMEOUT)
    if answer.status_code != 302:
        raise SystemExit(f"the portal's callback answered {answer.status_code}")
    return f"callback answered {answer.status_code} -> {answer.headers['Location']}"


if __name__ == "__main__":
    origin, ca_file, email, tesla_user = sys.argv[1:5]
    print(link(origin, ca_file, email, os.environ["REHEARSAL_PASSWORD"], tesla_user))
