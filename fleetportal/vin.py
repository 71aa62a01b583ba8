"""The shape of a VIN (ISO 3779), the one rule every app uses to read and check one.

Tesla-neutral and framework-free, so it sits below every app: partners builds pairing links
for a VIN, vehicles checks and decodes them (check digit and Tesla's positions live in
`vehicles/vin.py`, on top of this), telemetry assigns configs by VIN.
"""

from __future__ import annotations

import re

VIN_LENGTH = 17
# ISO 3779: digits and capital letters except I, O and Q (mistaken for 1 and 0).
_ALPHABET = re.compile(r"[A-HJ-NPR-Z0-9]+")


def normalise_vin(raw: str) -> str:
    """What a person typed, as the VIN it means: no white space anywhere, upper case."""
    return "".join(raw.split()).upper()


def has_vin_length(vin: str) -> bool:
    return len(vin) == VIN_LENGTH


def has_vin_alphabet(vin: str) -> bool:
    return bool(_ALPHABET.fullmatch(vin))


def is_well_formed_vin(vin: str) -> bool:
    """17 characters of the VIN alphabet (the check digit is `vehicles.vin.vin_check`'s)."""
    return has_vin_length(vin) and has_vin_alphabet(vin)


def split_vins(text: str) -> list[str]:
    """A pasted list (white space, commas or semicolons between VINs), normalised, each once,
    in first-seen order."""
    # A dict keeps first-seen order and makes each "seen already?" a hash lookup: a list made
    # a 120,000-VIN paste quadratic.
    tokens = text.replace(",", " ").replace(";", " ").split()
    return list(dict.fromkeys(normalise_vin(token) for token in tokens))
