"""Reads for partner onboarding: the key, the domain, the URLs Tesla fetches, the regions."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.utils.translation import gettext as _

from fleetportal import hostnames, tesla
from partners import keys
from partners.models import PartnerAuditEntry, PartnerKey, PartnerRegistration

PUBLIC_KEY_PATH = "/.well-known/appspecific/com.tesla.3p.public-key.pem"


class PartnerKeyMissing(Exception):
    """No application key exists yet, or its stored private half is unreadable."""


def partner_key() -> PartnerKey | None:
    return PartnerKey.objects.filter(pk=PartnerKey.SINGLETON_PK).first()


def partner_private_key() -> ec.EllipticCurvePrivateKey:
    """The private key for signing (telemetry configs, commands); never render or log it."""
    row = partner_key()
    if row is None:
        raise PartnerKeyMissing(_("No application key exists yet."))
    if row.private_key_file:
        try:
            pem = Path(row.private_key_file).read_bytes()
        except OSError as exc:
            raise PartnerKeyMissing(
                _("The private key file %(path)s cannot be read.") % {"path": row.private_key_file}
            ) from exc
    else:
        pem = row.private_key.encode()
    key = keys.key_parse_private(pem)
    if keys.public_hex(key.public_key()) != row.public_key_hex:
        # Someone replaced the file behind the portal's back: signing with it would produce
        # configs the cars reject, so say so instead.
        raise PartnerKeyMissing(
            _("The private key file no longer matches the registered public key.")
        )
    return key


def partner_domain() -> str:
    """The domain registered with Tesla: TESLA_PARTNER_DOMAIN, else PORTAL_PUBLIC_URL's host."""
    if settings.TESLA_PARTNER_DOMAIN:
        return settings.TESLA_PARTNER_DOMAIN.strip()
    return urlsplit(settings.PORTAL_PUBLIC_URL).netloc.lower()


def matching_origin(domain: str, origins: list[str]) -> str | None:
    """The first allowed origin sharing the domain's root, or None."""
    root = hostnames.root_host(domain.partition(":")[0])
    for origin in origins:
        if origin.strip() and hostnames.root_host(hostnames.origin_host(origin.strip())) == root:
            return origin
    return None


def public_key_urls() -> list[str]:
    """Where the key must be served: at PORTAL_PUBLIC_URL, and where Tesla fetches it."""
    urls = [settings.PORTAL_PUBLIC_URL.rstrip("/") + PUBLIC_KEY_PATH]
    domain = partner_domain()
    if domain and hostnames.domain_problem(domain) is None:
        # Tesla fetches https://<domain>/...; the sandbox uses http for loopback hosts, except
        # in a rehearsal (its sandbox runs with --key-fetch-https, scripts/rehearse.sh).
        host = domain.partition(":")[0]
        sandbox_http = hostnames.loopback_allowed() and not settings.TESLA_REHEARSAL
        scheme = "http" if sandbox_http and hostnames.is_loopback(host) else "https"
        tesla_url = f"{scheme}://{domain}{PUBLIC_KEY_PATH}"
        if tesla_url != urls[0]:
            urls.append(tesla_url)
    return urls


def region_codes() -> list[str]:
    """Every Fleet API region of the configured environment, in table order."""
    return [region.code for region in tesla.region_table().regions]


def auth_server_for(region: str) -> str:
    return tesla.region_table().auth_server_for_region(region).key


def registrations() -> list[PartnerRegistration]:
    """One row per region; unsaved "not registered" rows for regions never tried.

    A row about another domain (TESLA_PARTNER_DOMAIN changed since) says nothing about the
    current one, so it shows as not registered too.
    """
    domain = partner_domain()
    stored = {row.region: row for row in PartnerRegistration.objects.filter(domain=domain)}
    return [
        stored.get(code) or PartnerRegistration(region=code, domain=domain)
        for code in region_codes()
    ]


def audit_entries(*, limit: int = 20) -> list[PartnerAuditEntry]:
    """The newest entries of the partner audit log (the whole log is in admin)."""
    return list(PartnerAuditEntry.objects.all()[:limit])
