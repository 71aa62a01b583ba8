"""Virtual-key pairing links (§3.4) and their QR codes, rendered server-side as SVG."""

from __future__ import annotations

from django.utils.safestring import SafeString, mark_safe

from fleetportal import tesla
from fleetportal.vin import is_well_formed_vin
from partners import selectors


def pairing_link(*, region: str, vin: str | None = None) -> str:
    """The link that opens the Tesla app to add the portal's key, for the region's car."""
    if vin is not None and not is_well_formed_vin(vin):
        raise ValueError(f"not a VIN: {vin!r}")
    return tesla.region_table().pairing_link(region, selectors.partner_domain(), vin)


def qr_svg(data: str, *, scale: int = 4) -> SafeString:
    """An inline <svg> QR code of `data` (no XML declaration, ready to drop into HTML)."""
    # Imported here, not at module level: Django imports every template tag library at start,
    # so a missing QR library breaks only the QR code, never every page.
    import segno

    # Error level M survives a phone camera at an angle. The SVG carries `data` only as
    # drawn modules (path coordinates), never as text, so nothing in it needs escaping.
    svg = segno.make(data, error="m", micro=False).svg_inline(
        scale=scale, svgclass="pairing-qr", lineclass=None, border=4
    )
    return mark_safe(svg)  # noqa: S308 - no caller text ends up in the markup
