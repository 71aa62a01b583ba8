from __future__ import annotations

from allauth.socialaccount.adapter import get_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods
from django.views.i18n import set_language

from accounts import selectors, services
from accounts.forms import PasteCallbackForm
from accounts.models import TeslaLink
from fleetportal import tesla
from fleetportal.permissions import VIEW_LINK_STATUS, staff_permission_required


def _get_link_for_user(request: HttpRequest, pk: int) -> TeslaLink:
    """The user's own link, or 404: another user's id must not even be confirmed to exist."""
    return get_object_or_404(TeslaLink, pk=pk, user=request.user)


def _link_options() -> list[dict[str, object]]:
    options = []
    for provider_id, server in tesla.PROVIDER_AUTH_SERVER.items():
        creds = tesla.credentials(server)
        options.append(
            {
                "provider_id": provider_id,
                "server": server,
                "configured": creds.configured,
                "missing_settings": tesla.credential_settings(server),
                "login_url": reverse(f"{provider_id}_login"),
                "paste": bool(creds.redirect_uri),
            }
        )
    return options


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    links = list(request.user.tesla_links.all())
    options = _link_options()
    return render(
        request,
        "accounts/dashboard.html",
        {
            "links": links,
            "needs_relink": [
                link for link in links if link.health == TeslaLink.Health.NEEDS_RELINK
            ],
            "link_options": options,
            "paste_available": any(option["paste"] for option in options),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def link_unlink(request: HttpRequest, pk: int) -> HttpResponse:
    link = _get_link_for_user(request, pk)
    if request.method == "POST":
        services.link_unlink(link=link)
        messages.success(request, _("The Tesla account was unlinked and its tokens deleted."))
        return redirect("dashboard")
    return render(request, "accounts/link_unlink.html", {"link": link})


@login_required
def link_relink(request: HttpRequest, pk: int) -> HttpResponse:
    # Scoped fetch first: someone else's id is a 404 whatever the method, never a 405.
    link = _get_link_for_user(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    provider = get_adapter(request).get_provider(request, link.provider_id)
    return provider.redirect_to_relink(request, link=link)


@login_required
@require_http_methods(["GET", "POST"])
def link_paste(request: HttpRequest) -> HttpResponse:
    if not any(option["paste"] for option in _link_options()):
        raise Http404
    form = PasteCallbackForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # The pasted answer goes through the very same callback view, with its state, PKCE
        # and issuer checks, as if Tesla had redirected the browser here.
        callback = reverse(f"{form.provider_id}_callback")
        return redirect(f"{callback}?{form.query}")
    return render(request, "accounts/link_paste.html", {"form": form}, status=200)


@staff_permission_required(VIEW_LINK_STATUS)
@require_GET
def link_status(request: HttpRequest) -> HttpResponse:
    return render(
        request, "accounts/link_status.html", {"summary": selectors.link_status_summary()}
    )


def language_set(request: HttpRequest) -> HttpResponse:
    """Django's language switcher (a POST sets the cookie; a GET only redirects back), and for
    a signed-in user the choice kept on their profile too, so it follows them to a new browser
    and into their emails."""
    response = set_language(request)
    if request.method == "POST" and request.user.is_authenticated:
        services.user_language_set(user=request.user, language=request.POST.get("language", ""))
    return response


@require_http_methods(["POST"])
def resend_confirmation(request: HttpRequest) -> HttpResponse:
    """Send the confirmation email again (the "confirm your email" page's button).

    The answer is the same whether or not the address waits for confirmation, so the form
    does not tell who has an account; allauth's confirm_email rate limit spaces the emails.
    """
    from allauth.account.internal.flows.email_verification import (
        send_verification_email_to_address,
    )
    from allauth.account.models import EmailAddress

    email = request.POST.get("email", "").strip()
    address = (
        EmailAddress.objects.filter(email__iexact=email, verified=False).first() if email else None
    )
    if address is not None:
        send_verification_email_to_address(request, address)
    messages.info(
        request,
        _(
            "If %(email)s is waiting for confirmation, a new confirmation email is on its way "
            "(at most one every few minutes)."
        )
        % {"email": email},
    )
    return redirect("account_email_verification_sent")
