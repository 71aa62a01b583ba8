"""The Content-Security-Policy header (django-csp), with Tesla's sign-in as a form target.

The policy itself is CONTENT_SECURITY_POLICY in settings/base.py. Linking posts a form to the
portal that redirects to Tesla's authorize URL, and browsers hold a redirect that follows a
form submission to `form-action`: the authorize origins of the configured region table
(production or sandbox) are added per request, so a settings override in tests applies too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase

from fleetportal import tesla


def tesla_authorize_origins() -> list[str]:
    table = tesla.region_table()
    origins = set()
    for server in table.auth_servers:
        parts = urlsplit(server.authorize_url)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return sorted(origins)


class PortalCSPMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only:
            parts.update = {**(parts.update or {}), "form-action": tesla_authorize_origins()}
        return parts
