from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST, require_safe

from fleetportal.permissions import MANAGE_PARTNER, staff_permission_required
from partners import pairing, selectors, services
from partners.advice import advice_for
from partners.forms import CheckForm, KeyGenerateForm, PairingForm, RegisterForm
from partners.models import PartnerRegistration


# HEAD answers like GET without a body (probes and some fetchers ask HEAD first).
@require_safe
# Caches must revalidate: after a key is replaced, Tesla's next fetch must see the new one.
@cache_control(public=True, no_cache=True)
def public_key_pem(request: HttpRequest) -> HttpResponse:
    key = selectors.partner_key()
    if key is None:
        raise Http404
    return HttpResponse(key.public_key_pem, content_type="application/x-pem-file", status=200)


@staff_permission_required(MANAGE_PARTNER)
@require_GET
def partner_status(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "partners/status.html",
        {
            "key": selectors.partner_key(),
            "checks": services.partner_preflight(),
            "registrations": selectors.registrations(),
            "domain": selectors.partner_domain(),
            "key_urls": selectors.public_key_urls(),
            "key_form": KeyGenerateForm(),
            "pairing_form": PairingForm(),
            "audit": selectors.audit_entries(),
        },
        status=200,
    )


@staff_permission_required(MANAGE_PARTNER)
@require_POST
def partner_key_generate(request: HttpRequest) -> HttpResponse:
    form = KeyGenerateForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest()
    try:
        key = services.partner_key_generate(force=form.cleaned_data["replace"], actor=request.user)
    except services.PartnerSetupError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("A new application key was created (fingerprint %(fingerprint)s).")
            % {"fingerprint": key.fingerprint},
        )
    return redirect("partner_status")


@staff_permission_required(MANAGE_PARTNER)
@require_POST
def partner_register(request: HttpRequest) -> HttpResponse:
    form = RegisterForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest()
    region = form.cleaned_data["region"]
    if region == "all":
        for outcome in services.partner_register_all(actor=request.user):
            _report(request, outcome.region, outcome.registration, outcome.refused)
    else:
        try:
            registration = services.partner_register(region=region, actor=request.user)
        except services.PartnerSetupError as exc:
            _report(request, region, None, str(exc))
        else:
            _report(request, region, registration, "")
    return redirect("partner_status")


@staff_permission_required(MANAGE_PARTNER)
@require_POST
def partner_check(request: HttpRequest) -> HttpResponse:
    form = CheckForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest()
    region = form.cleaned_data["region"]
    try:
        registration = services.partner_registration_check(region=region, actor=request.user)
    except services.PartnerSetupError as exc:
        _report(request, region, None, str(exc))
    else:
        messages.info(
            request,
            _("%(region)s: %(state)s.")
            % {"region": region, "state": registration.get_state_display()},
        )
    return redirect("partner_status")


def _report(
    request: HttpRequest, region: str, registration: PartnerRegistration | None, refused: str
) -> None:
    if registration is None:
        messages.error(
            request,
            _("%(region)s was not registered: %(reason)s") % {"region": region, "reason": refused},
        )
    elif registration.state == PartnerRegistration.State.REGISTERED:
        messages.success(
            request,
            _("%(region)s: registered, and Tesla holds this portal's key.") % {"region": region},
        )
    else:
        messages.error(
            request,
            _("%(region)s: %(state)s. %(advice)s")
            % {
                "region": region,
                "state": registration.get_state_display(),
                "advice": advice_for(registration),
            },
        )


@staff_permission_required(MANAGE_PARTNER)
@require_GET
def partner_pairing(request: HttpRequest) -> HttpResponse:
    form = PairingForm(request.GET or None)
    link = None
    status = 200
    if request.GET:
        if form.is_valid():
            link = pairing.pairing_link(
                region=form.cleaned_data["region"], vin=form.cleaned_data["vin"]
            )
        else:
            status = 400
    return render(request, "partners/pairing.html", {"form": form, "link": link}, status=status)
