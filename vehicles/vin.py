"""VIN validation and decoding: vininfo for the generic parts, Tesla's own positions on top.

Framework-free apart from lazy translation of labels, so sync, forms and the benchmark share it.

Positions (ISO 3779; Tesla's NHTSA filings, as summarised in e.g. the Model 3 owner's
manual "VIN decoding" table and NHTSA's vPIC Tesla decoder):
  1-3 WMI (5YJ Fremont S/3, 7SA US X/Y, 7G2 US Cybertruck/Semi, LRW Shanghai, XP7 Berlin)
  4 line (S, 3, X, Y, C Cybertruck, T Semi, R Roadster)   5 body / steering side
  6 restraints   7 fuel (E electric)   8 motor / drive unit   9 check digit
  10 model year   11 plant   12-17 serial
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from vininfo import Vin

# The shape of a VIN is one rule for every app (partners sits below vehicles), so it lives in
# the project package; this module adds the check digit and Tesla's positions.
from fleetportal.vin import (
    VIN_LENGTH,
    has_vin_alphabet,
    has_vin_length,
    is_well_formed_vin,
    normalise_vin,
)

__all__ = ["VIN_LENGTH", "DecodedVin", "VinCheck", "normalise_vin", "vin_check", "vin_decode"]

TESLA_MODELS: dict[str, str] = {
    "S": "Model S",
    "3": "Model 3",
    "X": "Model X",
    "Y": "Model Y",
    "C": "Cybertruck",
    "T": "Semi",
    "R": "Roadster",
}

# Position 11. NHTSA's Tesla decoder lists A Austin, F Fremont, N Reno (Semi); Tesla's
# European type approvals add B Berlin and C Shanghai; the 2012-era Model S and the Roadster
# used P (Palo Alto). Anything else is shown as its raw letter rather than guessed.
TESLA_PLANTS: dict[str, Promise] = {
    "F": _("Fremont, California, USA"),
    "A": _("Austin, Texas, USA"),
    "N": _("Reno, Nevada, USA"),
    "B": _("Berlin-Brandenburg, Germany"),
    "C": _("Shanghai, China"),
    "P": _("Palo Alto, California, USA"),
}

TESLA_BODIES: dict[str, Promise] = {
    "A": _("5-door hatchback, left-hand drive"),
    "B": _("5-door hatchback, right-hand drive"),
    "C": _("SUV, left-hand drive"),
    "D": _("SUV, right-hand drive"),
    "E": _("4-door sedan, left-hand drive"),
    "F": _("4-door sedan, right-hand drive"),
    "G": _("crossover, left-hand drive"),
    "H": _("crossover, right-hand drive"),
}

# The WMIs Tesla uses; a VIN outside them still decodes generically (roster typos show up).
TESLA_WMIS = frozenset({"5YJ", "7SA", "7G2", "LRW", "XP7", "SFZ"})

# Where a failed check digit is an error rather than a warning, by vininfo's country.
#
# Evidence: the US rule (49 CFR 565.15(c), also applied in Canada and Mexico) makes position 9
# a computed check digit for every vehicle sold there, and China's GB 16735 requires the same
# computation. ISO 3779, which Europe and most other markets follow, leaves position 9 to the
# manufacturer, and many non-North-American makers put a filler there, so a mismatch outside
# those markets says nothing about a typo. Tesla itself computes the digit everywhere (real
# Berlin VINs such as XP7YGCEK5SB617830 pass), so a non-NA mismatch is still worth a warning.
CHECK_DIGIT_REQUIRED_COUNTRIES = frozenset({"United States", "Canada", "Mexico", "China"})


@dataclass(frozen=True)
class VinCheck:
    vin: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class DecodedVin:
    vin: str
    valid: bool
    problems: list[str]
    manufacturer: str = ""
    country: str = ""
    is_tesla: bool = False
    model_code: str = ""
    body_code: str = ""
    restraint_code: str = ""
    motor_code: str = ""
    model_year: int | None = None
    plant_code: str = ""

    @property
    def model(self) -> str:
        return TESLA_MODELS.get(self.model_code, "") if self.is_tesla else ""

    @property
    def plant(self) -> str:
        return str(TESLA_PLANTS.get(self.plant_code, "")) if self.is_tesla else ""

    @property
    def body(self) -> str:
        return str(TESLA_BODIES.get(self.body_code, "")) if self.is_tesla else ""


def vin_check(vin: str) -> VinCheck:
    """Errors make a VIN unusable; warnings are shown but do not block (see above)."""
    errors: list[str] = []
    warnings: list[str] = []
    if not has_vin_length(vin):
        errors.append(str(_("A VIN has 17 characters.")))
    if not has_vin_alphabet(vin):
        errors.append(str(_("A VIN uses digits and capital letters except I, O and Q.")))
    if errors:
        return VinCheck(vin, errors, warnings)
    info = Vin(vin)
    if not info.verify_checksum():
        message = str(_("The check digit (9th character) does not match the rest of the VIN."))
        if info.country in CHECK_DIGIT_REQUIRED_COUNTRIES:
            errors.append(message)
        else:
            warnings.append(message)
    return VinCheck(vin, errors, warnings)


def _model_year(info: Vin) -> int | None:
    # Position 10 repeats every 30 years; the latest candidate not in the future is the one.
    latest = dt.date.today().year + 1
    candidates = [year for year in info.years if year <= latest]
    return max(candidates) if candidates else None


def vin_decode(vin: str) -> DecodedVin:
    """Decode what can be decoded; an invalid VIN still yields a record with its problems."""
    check = vin_check(vin)
    problems = check.errors + check.warnings
    if not is_well_formed_vin(vin):
        return DecodedVin(vin=vin, valid=False, problems=problems)
    info = Vin(vin)
    manufacturer = str(info.manufacturer or "")
    if manufacturer == "UnsupportedBrand":  # vininfo's name for a WMI it does not know
        manufacturer = ""
    is_tesla = vin[:3] in TESLA_WMIS or manufacturer.startswith("Tesla")
    return DecodedVin(
        vin=vin,
        valid=check.valid,
        problems=problems,
        manufacturer=manufacturer,
        country=str(info.country or ""),
        is_tesla=is_tesla,
        model_code=vin[3] if is_tesla else "",
        body_code=vin[4],
        restraint_code=vin[5],
        motor_code=vin[7],
        model_year=_model_year(info),
        plant_code=vin[10],
    )
