"""What to do about the errors cars report about a telemetry config (§5.4)."""

from __future__ import annotations

from django.utils.translation import gettext as _

# Substrings of the errors cars report (§5.4) and what to do about them.
KNOWN_ERRORS: tuple[tuple[str, str], ...] = (
    ("unknown issuer", "unknown_issuer"),
    ("only NIST-P256", "wrong_key_type"),
    ("verification error", "bad_signature"),
    ("bad certificate", "bad_certificate"),
)


def explain_error(text: str) -> str:
    """A translated explanation of a known telemetry error, or ""."""
    explanations = {
        "unknown_issuer": _(
            "The config was signed with a key the car does not hold: pair the portal's current "
            "key on the car (or register that key with Tesla), then push again."
        ),
        "wrong_key_type": _(
            "Wrong key type: cars accept only NIST P-256 (prime256v1) keys. Use a P-256 key "
            "for the application, register it and pair it again."
        ),
        "bad_signature": _(
            "The signature did not verify on the car: the config was changed after signing or "
            "signed with another key. Push it again."
        ),
        "bad_certificate": _(
            "The car refused the telemetry server's TLS certificate: check the CA chain in "
            "the config against the server's certificate."
        ),
    }
    lowered = (text or "").lower()
    for marker, key in KNOWN_ERRORS:
        if marker.lower() in lowered:
            return explanations[key]
    return ""


def explain_skip(reason: str) -> dict[str, str]:
    """Tesla's reason for skipping a car (§5.4) in plain words, and what fixes it (§5.1).

    Returns {"label": ..., "fix": ...}; an unknown reason is shown as Tesla sent it."""
    reasons = {
        "missing_key": (
            _("The portal's key is not paired on the car"),
            _(
                "Send the owner the pairing link and ask them to approve the key in the Tesla "
                "app, then push again. A 2021 or older Model S or X (Intel Atom) takes no key: "
                "its owner turns on Allow Third-Party App Data Streaming on the car's Safety "
                "screen instead."
            ),
        ),
        "unsupported_firmware": (
            _("The car's software is too old"),
            _(
                "The car needs software 2024.26 or newer for a config signed by the portal: "
                "ask the owner to update the car, then push again."
            ),
        ),
        "unsupported_hardware": (
            _("The car's hardware is not supported"),
            _(
                "Tesla streams from a 2021 or older Model S or X (Intel Atom) only on software "
                "2025.20 or newer, once the owner allows it on the car's Safety screen. Ask the "
                "owner to update the car, or remove the car from the config."
            ),
        ),
        "max_configs": (
            _("The car has no free slot for another streaming app"),
            _(
                "Free an app slot: the owner removes another app's telemetry config from the "
                "car (or revokes that app), then push again."
            ),
        ),
    }
    if reason in reasons:
        label, fix = reasons[reason]
        return {"label": label, "fix": fix}
    return {"label": reason, "fix": ""}


def explain_stream_error(name: str) -> str:
    """What an error a car sent through the stream (§10.1) means and what fixes it, or ""."""
    known = {
        "unsupported_field": _(
            "The car's telemetry client cannot send this field: update the car's software, or "
            "remove the field from the config."
        ),
        # Tesla's spelling (fleet-telemetry #276); the corrected one is accepted too.
        "unsuported_interval": _(
            "The car cannot send this field as often as configured: raise the field's interval "
            "in the config and push it again."
        ),
    }
    known["unsupported_interval"] = known["unsuported_interval"]
    return known.get(name, "")
