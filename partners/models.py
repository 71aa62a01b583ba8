"""The operator's side: the application key pair, partner tokens, registration per region."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from fleetportal.crypto import EncryptedTextField


class PartnerKey(models.Model):
    """The application's EC P-256 key pair: one per portal (row pk=1).

    Tesla holds the public half per domain and region; the vehicles hold it as the portal's
    virtual key, and telemetry configs are signed with the private half (§3.1).
    """

    SINGLETON_PK = 1

    # Fernet ciphertext of the PEM, or "" when the key lives in `private_key_file`.
    private_key = EncryptedTextField(blank=True)
    private_key_file = models.CharField(_("private key file"), max_length=500, blank=True)
    public_key_pem = models.TextField(_("public key (PEM)"))
    # Hex of the 65-byte uncompressed point: the form Tesla answers with (§3.2, §3.3).
    public_key_hex = models.CharField(_("public key (hex)"), max_length=130)
    fingerprint = models.CharField(_("fingerprint (SHA-256)"), max_length=95)
    created_at = models.DateTimeField(_("created"))
    rotated_at = models.DateTimeField(_("last replaced"), null=True, blank=True)
    # The periodic check of the public key URL(s) (partners.tasks.partner_key_hosting_watch):
    # Tesla fetches the key again when a car pairs, so a key no longer served leaves every
    # new pairing failing with "application has not registered".
    hosting_problem = models.TextField(_("public key hosting problem"), blank=True)
    hosting_checked_at = models.DateTimeField(_("hosting checked"), null=True, blank=True)
    hosting_notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("application key")
        verbose_name_plural = _("application keys")
        permissions = [
            (
                "manage_partner",
                _("Can manage partner onboarding: application key, registration, pairing links"),
            )
        ]

    def __str__(self) -> str:
        return f"P-256 {self.fingerprint[:23]}…"


class PartnerRegistration(models.Model):
    """What Tesla holds for the portal's domain in one region, as last seen."""

    class State(models.TextChoices):
        NOT_REGISTERED = "not_registered", _("Not registered")
        REGISTERED = "registered", _("Registered")
        KEY_MISMATCH = "key_mismatch", _("Key mismatch")
        ERROR = "error", _("Error")

    class Problem(models.TextChoices):
        # What went wrong, as a code: the advice is rendered in the reader's language.
        NONE = "", _("None")
        NOT_REGISTERED_IN_REGION = "not_registered_in_region", _("Not accepted in this region")
        INVALID_RESOURCE = "invalid_resource", _("Domain or key refused")
        TOKEN_REFUSED = "token_refused", _("Partner token refused")
        CREDENTIALS_REFUSED = "credentials_refused", _("Credentials refused")
        TESLA_UNAVAILABLE = "tesla_unavailable", _("Tesla unavailable")
        KEY_CHANGED = "key_changed", _("Our key changed")
        KEY_DIFFERS = "key_differs", _("Tesla holds another key")
        NO_KEY_AT_TESLA = "no_key_at_tesla", _("Tesla holds no key")
        # Registered, but Tesla refuses to show the key it holds (China, 403 missing scopes).
        READBACK_REFUSED = "readback_refused", _("Key read-back refused")
        OTHER = "other", _("Other")

    region = models.CharField(_("region"), max_length=4, unique=True)
    domain = models.CharField(_("domain"), max_length=253)
    state = models.CharField(_("state"), max_length=16, choices=State, default=State.NOT_REGISTERED)
    problem = models.CharField(_("problem"), max_length=32, choices=Problem, blank=True)
    # Tesla's own words (status, error, description), never translated or reworded.
    tesla_message = models.TextField(_("Tesla's message"), blank=True)
    # The key Tesla answered for the domain (hex point), "" when it answered none.
    tesla_public_key_hex = models.CharField(_("key held by Tesla"), max_length=130, blank=True)
    registered_at = models.DateTimeField(_("registered"), null=True, blank=True)
    checked_at = models.DateTimeField(_("checked"), null=True, blank=True)

    class Meta:
        verbose_name = _("partner registration")
        verbose_name_plural = _("partner registrations")
        ordering = ("region",)

    def __str__(self) -> str:
        return f"{self.region} {self.domain} ({self.get_state_display()})"


class PartnerToken(models.Model):
    """A cached partner (client-credentials) token for one region, encrypted at rest."""

    region = models.CharField(max_length=4, unique=True)
    # The token belongs to these credentials: changed credentials mean a new token.
    client_id = models.CharField(max_length=200)
    access_token = EncryptedTextField()
    expires_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("partner token")
        verbose_name_plural = _("partner tokens")

    def __str__(self) -> str:
        return f"{self.region} partner token"


class AuditQuerySet(models.QuerySet):
    # Bulk paths skip Model.save/delete; refuse them too so the log stays append-only.
    def update(self, **kwargs):
        raise PermissionError("the partner audit log is append-only")

    def delete(self):
        raise PermissionError("the partner audit log is append-only")


class PartnerAuditEntry(models.Model):
    """Who replaced the key or registered with Tesla, when, and how it went (append-only)."""

    class Action(models.TextChoices):
        KEY_GENERATED = "key_generated", _("Key generated")
        KEY_IMPORTED = "key_imported", _("Key imported")
        REGISTERED = "registered", _("Registration")
        CHECKED = "checked", _("Registration check")
        KEY_EXPORTED = "key_exported", _("Key exported")
        KEY_TO_FILE = "key_to_file", _("Key moved to a file")

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", _("Succeeded")
        # Tesla answered, but not as hoped (error, key mismatch, not registered).
        FAILED = "failed", _("Failed")
        # Refused here before any change or call (key exists, no key, bad setting).
        REFUSED = "refused", _("Refused")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept as text as well: the user's email, or the command that ran ("manage.py tesla_keygen
    # (os user root)"); the log must still say who after the user is deleted.
    actor_label = models.CharField(_("who"), max_length=254)
    action = models.CharField(_("action"), max_length=16, choices=Action)
    region = models.CharField(_("region"), max_length=4, blank=True)
    # Fingerprints only: never a private key, never a token.
    fingerprint = models.CharField(_("key fingerprint"), max_length=95, blank=True)
    previous_fingerprint = models.CharField(_("replaced key"), max_length=95, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome)
    detail = models.TextField(_("detail"), blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = _("partner audit entry")
        verbose_name_plural = _("partner audit log")
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.outcome}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("the partner audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("the partner audit log is append-only")
