"""What the operator should do about a registration's state, in the reader's language."""

from __future__ import annotations

from django.utils.translation import gettext as _

from fleetportal import tesla
from partners import selectors
from partners.models import PartnerRegistration

Problem = PartnerRegistration.Problem
State = PartnerRegistration.State


def advice_for(registration: PartnerRegistration) -> str:
    region = registration.region
    domain = registration.domain
    server = selectors.auth_server_for(region)
    client_id, secret = tesla.credential_settings(server)
    portal = "developer.tesla.cn" if server == "cn" else "developer.tesla.com"
    values = {
        "region": region,
        "domain": domain,
        "id": client_id,
        "secret": secret,
        "portal": portal,
    }
    problem = registration.problem
    if problem == Problem.READBACK_REFUSED:
        return (
            _(
                "Registration in %(region)s succeeded, but Tesla refused to show the key it "
                "holds for %(domain)s, so the portal cannot confirm it is this portal's key. "
                "Tesla China is reported to answer this way (a scope the partner token lacks); "
                "nothing to do unless pairing fails. Pair one car to confirm."
            )
            % values
        )
    if registration.state == State.REGISTERED:
        return _("Nothing to do: Tesla holds this portal's key for %(domain)s.") % values
    if problem == Problem.NOT_REGISTERED_IN_REGION:
        return (
            _(
                "Tesla does not accept this application in %(region)s yet. Check that %(id)s "
                "belongs to the application on %(portal)s, then register again; a newly created "
                "application can take about an hour before Tesla accepts it."
            )
            % values
        )
    if problem == Problem.INVALID_RESOURCE:
        return (
            _(
                "Tesla refused the domain or the key. Make sure %(domain)s shares its root "
                "with an allowed origin of the application, and that the public key URL "
                "answers 200 over HTTPS, without redirects, with the P-256 key shown below."
            )
            % values
        )
    if problem == Problem.TOKEN_REFUSED:
        return (
            _(
                "Tesla refused the partner token for %(region)s. Register again; if it "
                "persists, check that the application on %(portal)s is a partner application."
            )
            % values
        )
    if problem == Problem.CREDENTIALS_REFUSED:
        return (
            _(
                "Tesla's sign-in server refused the application's credentials: check %(id)s "
                "and %(secret)s against the application on %(portal)s."
            )
            % values
        )
    if problem == Problem.TESLA_UNAVAILABLE:
        return _(
            "Tesla did not answer properly. Try again in a few minutes; registering again is safe."
        )
    if problem == Problem.KEY_CHANGED:
        return (
            _(
                "The portal's key was replaced after registering, so Tesla still holds the old "
                "one and cars will reject the new one: register %(region)s again."
            )
            % values
        )
    if problem == Problem.KEY_DIFFERS:
        return (
            _(
                "Tesla holds a different key for %(domain)s than the one this portal serves. "
                "Register %(region)s again so Tesla fetches the current key; vehicles paired "
                "with the old key must be paired again."
            )
            % values
        )
    if problem == Problem.NO_KEY_AT_TESLA:
        return (
            _(
                "Tesla accepted the registration but shows no key for %(domain)s. Register "
                "%(region)s again."
            )
            % values
        )
    if problem == Problem.OTHER:
        return (
            _("Read Tesla's message above, fix the cause and register %(region)s again.") % values
        )
    return _("Register %(region)s once the pre-flight checks pass.") % values
