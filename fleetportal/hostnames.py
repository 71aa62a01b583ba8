"""Host names: the partner domain registered with Tesla, the telemetry server's host, and
Tesla's "same root" comparison between them. Every app checks a host name here.

The register call wants "lowercase host, no scheme" with the same root as one of the
application's allowed origins
(https://developer.tesla.com/docs/fleet-api/endpoints/partner-endpoints#register); a
telemetry config's `hostname` must match the root domain of the registered application
(https://developer.tesla.com/docs/fleet-api/fleet-telemetry).

Tesla does not define "root". We read it as the registrable domain, the name just under a
public suffix of the Public Suffix List (our inference, not Tesla's word): the last two labels
would make portal.foo.com.cn and bar.com.cn "the same root" (com.cn). The list is the one the
`publicsuffixlist` package bundles; nothing is fetched at run time.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from publicsuffixlist import PublicSuffixList

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# One label or more: the partner domain (a sandbox "localhost" is one label).
_HOST_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
# Two labels or more: a DNS name a car can resolve.
_DNS_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+")
# Characters that only appear in a URL (a path, query, fragment or user), never in a host.
_URL_CHARS = "/?#@ \\"


def loopback_allowed() -> bool:
    """The sandbox takes loopback hosts for local development (sandbox/README.md)."""
    return settings.TESLA_ENV == "sandbox"


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    return host == "localhost" or (
        is_ip(host) and ipaddress.ip_address(host.strip("[]")).is_loopback
    )


# The whole list, private section included: foo.github.io and bar.github.io are two owners.
_PSL = PublicSuffixList()


def root_host(host: str) -> str:
    """The root Tesla compares ("same root"): the registrable domain (one label under a
    public suffix); an IP address, a single label or a public suffix itself is its own."""
    host = host.lower().strip(".")
    if is_ip(host):
        return host
    return _PSL.privatesuffix(host) or host


def origin_host(origin: str) -> str:
    """The host of an allowed origin, written as a URL or bare."""
    if "://" in origin:
        return (urlsplit(origin).hostname or "").lower()
    return origin.split(":")[0].split("/")[0].lower()


def domain_problem(domain: str) -> str | None:
    """Why `domain` cannot be registered as the partner domain, or None."""
    if not domain:
        return _("No partner domain: set TESLA_PARTNER_DOMAIN (or PORTAL_PUBLIC_URL).")
    if "://" in domain:
        return _(
            "The domain %(domain)s contains a scheme: give the bare host, e.g. example.com."
        ) % {"domain": domain}
    if any(c in domain for c in _URL_CHARS):
        return _("The domain %(domain)s contains a path: give the bare host, e.g. example.com.") % {
            "domain": domain
        }
    if domain != domain.lower():
        return _("The domain %(domain)s must be lower case.") % {"domain": domain}
    host, has_port, port = domain.partition(":")
    if has_port and not (loopback_allowed() and is_loopback(host) and port.isdigit()):
        return _(
            "The domain %(domain)s contains a port: Tesla fetches the key over HTTPS on port "
            "443 (only the sandbox accepts a loopback host with a port)."
        ) % {"domain": domain}
    if not _HOST_RE.fullmatch(host):
        return _("%(domain)s is not a valid host name.") % {"domain": domain}
    return None


def validate_server_hostname(value: str) -> str:
    """A bare DNS name a car can reach (the telemetry server's); returns it.

    Raises ValidationError with a code saying which rule it breaks.
    """
    host = (value or "").strip()
    if not host:
        raise ValidationError(_("Enter the host name of your telemetry server."), code="required")
    if "://" in host:
        raise ValidationError(
            _("Give the bare host name without a scheme, e.g. telemetry.example.com."),
            code="scheme",
        )
    if any(c in host for c in _URL_CHARS):
        raise ValidationError(
            _("Give the bare host name without a path, e.g. telemetry.example.com."), code="path"
        )
    if host != host.lower():
        raise ValidationError(_("The host name must be lower case."), code="case")
    # Tesla's cars cannot reach an IP literal or localhost, and the port has its own field.
    if loopback_allowed() and is_loopback(host):
        return host
    if host.count(":") == 1 and not is_ip(host):
        raise ValidationError(
            _("Give the port in the port field, not in the host name."), code="port"
        )
    if is_ip(host):
        raise ValidationError(
            _("An IP address is not accepted: give the DNS name of the server."), code="ip"
        )
    if host == "localhost" or host.endswith(".localhost"):
        raise ValidationError(
            _("localhost is not reachable from a vehicle: give the server's public DNS name."),
            code="localhost",
        )
    if not _DNS_RE.fullmatch(host):
        raise ValidationError(
            _(
                "%(host)s is not a valid DNS host name: give two labels or more of letters, "
                "digits and hyphens, e.g. telemetry.example.com."
            )
            % {"host": host},
            code="invalid",
        )
    return host


def allowed_hosts(domain: str) -> str | None:
    """Which telemetry host names the partner `domain` allows, and why, in one sentence.

    None when the domain is missing or malformed (onboarding reports that itself).
    """
    if not domain or domain_problem(domain):
        return None
    bare = domain.partition(":")[0]
    root = root_host(bare)
    if is_ip(root):
        return _(
            "With an IP address as the partner domain (%(domain)s), the telemetry host must be "
            "that same address, %(root)s: a name cannot be placed under an IP address."
        ) % {"domain": domain, "root": root}
    if "." not in root:
        return _(
            "With %(root)s as the partner domain, the telemetry host must be %(root)s itself."
        ) % {"root": root}
    return _(
        "Allowed: %(root)s or a name ending in .%(root)s (for example telemetry.%(root)s). Tesla "
        "accepts only telemetry hosts under the root of the partner domain registered with it "
        "(%(domain)s)."
    ) % {"root": root, "domain": domain}


def root_problem(host: str, *, domain: str) -> str | None:
    """Why `host` is not under the root of the partner `domain`, or None; the message says
    which hosts are allowed.

    A missing or malformed domain gives None: onboarding reports the bad domain itself.
    """
    allowed = allowed_hosts(domain)
    if allowed is None:
        return None
    if root_host(host) != root_host(domain.partition(":")[0]):
        return _("%(host)s is not allowed. %(allowed)s") % {"host": host, "allowed": allowed}
    return None
