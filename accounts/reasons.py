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

# A failure stored because the link needs a relink (a sync's, a push's): this prefix, then
# the link's stored reason. Push failures stored before it began with the English sentence.
NEEDS_RELINK = "needs relink: "
_LEGACY_NEEDS_RELINK = "The Tesla account needs a relink: "

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


def needs_relink(reason: str) -> str:
    return f"{NEEDS_RELINK}{reason}"


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


def failure_text(stored: str) -> str:
    """A stored failure in words: one for a link that needs a relink worded with its reason,
    any other (Tesla's own text) as stored."""
    for prefix in (NEEDS_RELINK, _LEGACY_NEEDS_RELINK):
        if stored.startswith(prefix):
            return _("The Tesla account needs to be linked again. %(reason)s") % {
                "reason": reason_text(stored.removeprefix(prefix))
            }
    return stored
