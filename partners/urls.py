from __future__ import annotations

from django.urls import path

from partners import views
from partners.selectors import PUBLIC_KEY_PATH

urlpatterns = [
    # Tesla fetches it here, with no redirect allowed (§3.1).
    path(PUBLIC_KEY_PATH.lstrip("/"), views.public_key_pem, name="partner_public_key"),
    path("staff/partner/", views.partner_status, name="partner_status"),
    path("staff/partner/key/", views.partner_key_generate, name="partner_key_generate"),
    path("staff/partner/register/", views.partner_register, name="partner_register"),
    path("staff/partner/check/", views.partner_check, name="partner_check"),
    path("staff/partner/pairing/", views.partner_pairing, name="partner_pairing"),
]
