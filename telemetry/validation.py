"""Checks shared by the builder, the admin and the push: each returns translated messages."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re

from cryptography import x509
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from partners import selectors as partner_selectors
from telemetry import catalogue

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+")
_PEM_BLOCK_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


def _is_sandbox() -> bool:
    return settings.TESLA_ENV == "sandbox"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    return host == "localhost" or (
        _is_ip(host) and ipaddress.ip_address(host.strip("[]")).is_loopback
    )


def validate_hostname(value: str) -> str:
    """A bare DNS name under the partner domain's root (§5.3); returns it lower-cased."""
    host = (value or "").strip()
    if not host:
        raise ValidationError(_("Enter the host name of your telemetry server."), code="required")
    if "://" in host:
        raise ValidationError(
            _("Give the bare host name without a scheme, e.g. telemetry.example.com."),
            code="scheme",
        )
    if any(c in host for c in "/?#@ \\"):
        raise ValidationError(
            _("Give the bare host name without a path, e.g. telemetry.example.com."), code="path"
        )
    if host != host.lower():
        raise ValidationError(_("The host name must be lower case."), code="case")
    # The sandbox takes loopback hosts for local development (sandbox/README.md); Tesla's cars
    # cannot reach an IP literal or localhost, and the port has its own field.
    if _is_sandbox() and _is_loopback(host):
        return host
    if host.count(":") == 1 and not _is_ip(host):
        raise ValidationError(
            _("Give the port in the port field, not in the host name."), code="port"
        )
    if _is_ip(host):
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
            _("%(host)s is not a valid DNS host name.") % {"host": host}, code="invalid"
        )
    return host


def hostname_root_problem(host: str) -> str | None:
    """Tesla wants the host under the registered partner domain's root (§5.3)."""
    domain = partner_selectors.partner_domain()
    if not domain or partner_selectors.domain_problem(domain):
        return None  # onboarding reports the bad domain itself
    expected = partner_selectors.root_host(domain.partition(":")[0])
    if partner_selectors.root_host(host) != expected:
        return _(
            "The host name must be under %(root)s, the root of the partner domain registered "
            "with Tesla (%(domain)s)."
        ) % {"root": expected, "domain": domain}
    return None


def validate_port(value: int | None) -> None:
    if value is None or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ValidationError(_("The port must be a number from 1 to 65535."), code="port")


def validate_ca(value: str, *, now: dt.datetime | None = None) -> str:
    """A PEM chain of certificates only; returns it normalised (one trailing newline)."""
    text = (value or "").strip()
    if not text:
        raise ValidationError(
            _("Paste the CA certificate chain (PEM) the vehicle should trust."), code="required"
        )
    kinds = set(_PEM_BLOCK_RE.findall(text))
    if any("PRIVATE KEY" in kind for kind in kinds):
        raise ValidationError(
            _(
                "This contains a private key. Paste only the CA certificates: the private key "
                "must never leave your telemetry server."
            ),
            code="private_key",
        )
    if not kinds:
        raise ValidationError(
            _("This is not PEM: it must start with -----BEGIN CERTIFICATE-----."), code="not_pem"
        )
    if kinds != {"CERTIFICATE"}:
        raise ValidationError(
            _("Only CERTIFICATE blocks are allowed in the CA chain."), code="not_certificate"
        )
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValidationError(
            _("A certificate in the chain cannot be read: check that it was pasted whole."),
            code="unreadable",
        ) from None
    now = now or timezone.now()
    problems = []
    for n, cert in enumerate(certs, start=1):
        subject = cert.subject.rfc4514_string() or "-"
        if cert.not_valid_after_utc < now:
            problems.append(
                _("Certificate %(n)d (%(subject)s) expired on %(date)s.")
                % {"n": n, "subject": subject, "date": f"{cert.not_valid_after_utc:%Y-%m-%d}"}
            )
        elif cert.not_valid_before_utc > now:
            problems.append(
                _("Certificate %(n)d (%(subject)s) is not valid before %(date)s.")
                % {"n": n, "subject": subject, "date": f"{cert.not_valid_before_utc:%Y-%m-%d}"}
            )
    if problems:
        raise ValidationError(problems, code="validity")
    return text + "\n"


def validate_exp(value: dt.datetime | None, *, now: dt.datetime | None = None) -> None:
    if value is not None and value <= (now or timezone.now()):
        raise ValidationError(_("The expiry must be in the future."), code="exp")


def validate_field_name(value: str) -> None:
    name = (value or "").strip()
    if catalogue.is_placeholder(name) and name in catalogue.all_names():
        raise ValidationError(
            _("%(name)s is a placeholder in Tesla's list, not a signal a car sends.")
            % {"name": name},
            code="placeholder",
        )
    if name not in catalogue.signal_names():
        raise ValidationError(
            _("%(name)s is not a Fleet Telemetry field.") % {"name": name[:80]}, code="unknown"
        )


def validate_positive(value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or value < 1):
        raise ValidationError(_("Enter a whole number of seconds, at least 1."), code="positive")


def validate_delta(value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValidationError(_("The minimum change must be greater than 0."), code="delta")
