"""Checks shared by the builder, the admin and the push: each returns translated messages.

The host name rules are every app's: `fleetportal/hostnames.py`.
"""

from __future__ import annotations

import datetime as dt
import re

from cryptography import x509
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from telemetry import catalogue

_PEM_BLOCK_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


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
