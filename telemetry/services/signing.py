"""A run's signed config: one Tesla.SS256 JWS per run, shared by all its link tasks.

Signing reads the partner key row, decrypts and parses the PEM (most of a link task's CPU
when done per link, bench_telemetry); the JWS is the same for every link of a run, so the
first task that needs it stores it on the run and the others read it back.
"""

from __future__ import annotations

from partners import selectors as partner_selectors
from telemetry.models import TelemetryConfigVersion, TelemetryRun
from teslafleet import jws


def signed_token(version: TelemetryConfigVersion) -> str:
    """The version's payload signed with the partner key current now (§5.3)."""
    return jws.sign(partner_selectors.partner_private_key(), version.payload)


def run_token(run: TelemetryRun) -> str:
    """The run's JWS: the stored one, else signed now and stored if no other task beat us.

    The store is a conditional UPDATE: of link tasks signing at the same moment, the first
    write wins and the others send that token too, so every link of a run sends the same
    JWS, signed with the key current when the run was first signed (a key rotated mid-run
    reaches cars through the next push or re-sign, which is a new run).
    Raises PartnerKeyMissing (nothing stored) when there is no usable key.
    """
    if run.signed_token:
        return run.signed_token
    token = signed_token(run.version)
    if not TelemetryRun.objects.filter(pk=run.pk, signed_token="").update(signed_token=token):
        token = TelemetryRun.objects.values_list("signed_token", flat=True).get(pk=run.pk)
    run.signed_token = token
    return token
