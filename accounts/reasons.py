"""Why a link is not healthy (`TeslaLink.health_reason`): stored as a code with its parameter
("missing_scopes:vehicle_device_data,offline_access"), worded only when shown, in the
reader's language. Rows stored before the codes hold English sentences; they are read too.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

MISSING_SCOPES = "missing_scopes"
REFUSED = "refused"  # Tesla answered the refresh with a permanent error (invalid_grant…)
UNAVAILABLE = "unavailable"  # Tesla did not answer the refresh (a transient failure)

# The English the refresh path stored before the codes, read into (code, parameter).
_LEGACY = (
    (re.compile(r"missing scopes: (.*)", re.S), MISSING_SCOPES),
    (re.compile(r"Tesla answered (.*)", re.S), REFUSED),
    (re.compile(r"Tesla unavailable \((.*)\)", re.S), UNAVAILABLE),
)


def missing_scopes(scopes: list[str]) -> str:
    return f"{MISSING_SCOPES}:{','.join(scopes)}"


def refused(error: str) -> str:
    return f"{REFUSED}:{error}"


def unavailable(detail: str) -> str:
    return f"{UNAVAILABLE}:{detail}"


def _parse(stored: str) -> tuple[str, str]:
    for pattern, code in _LEGACY:
        if match := pattern.fullmatch(stored):
            return code, match.group(1)
    code, _sep, parameter = stored.partition(":")
    return code, parameter


def reason_text(stored: str) -> str:
    """A stored reason in words, in the active language; one it does not know, as stored."""
    code, parameter = _parse(stored)
    if code == MISSING_SCOPES:
        scopes = ", ".join(s.strip() for s in parameter.split(",") if s.strip())
        return _(
            "Tesla did not grant every permission the portal needs (missing: %(scopes)s). "
            "When you link the account again, leave them all ticked."
        ) % {"scopes": scopes}
    if code == REFUSED:
        return _("Tesla refused to renew the portal's access (%(error)s).") % {"error": parameter}
    if code == UNAVAILABLE:
        return _("Tesla could not be reached for the last token refresh (%(detail)s).") % {
            "detail": parameter
        }
    return stored
