"""Portal users: email is the login."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from fleetportal import tesla
from fleetportal.crypto import EncryptedTextField


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    username = None
    email = models.EmailField(_("email address"), unique=True)
    # The interface language the user last chose (a code of settings.LANGUAGES), applied on
    # every request they make signed in, on any browser, and to the emails sent to them. Blank:
    # never chosen (the browser's cookie or Accept-Language decide).
    language = models.CharField(_("language"), max_length=16, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            # Two spellings of one address must not make two accounts.
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email


class TeslaLink(models.Model):
    """A user's linked Tesla account at one authorization server, with its tokens."""

    class AuthServer(models.TextChoices):
        GLOBAL = "global", _("Global")
        CN = "cn", _("China")

    class Health(models.TextChoices):
        OK = "ok", _("Healthy")
        RETRYING = "retrying", _("Retrying")
        NEEDS_RELINK = "needs_relink", _("Needs relink")
        REVOKED = "revoked", _("Revoked")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tesla_links")
    auth_server = models.CharField(_("authorization server"), max_length=8, choices=AuthServer)
    # Tesla's user id (`sub`); with the server it names one Tesla account.
    subject = models.CharField(_("Tesla user id"), max_length=128)
    region = models.CharField(_("region"), max_length=4)
    fleet_api_base_url = models.URLField(_("Fleet API base URL"))
    email = models.CharField(_("Tesla account email"), max_length=254, blank=True)
    full_name = models.CharField(_("Tesla account name"), max_length=200, blank=True)
    scopes = models.JSONField(_("granted scopes"), default=list)

    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField(blank=True)
    access_token_expires_at = models.DateTimeField(_("access token expires"))
    refresh_token_issued_at = models.DateTimeField(_("refresh token issued"))
    last_refreshed_at = models.DateTimeField(_("last refresh"), null=True, blank=True)
    # Bumped on every stored rotation: a writer that read an older version lost a race.
    token_version = models.PositiveIntegerField(default=0)
    # Set when a sweep queued a refresh, cleared when it ran: overlapping sweeps skip it.
    refresh_queued_at = models.DateTimeField(null=True, blank=True)
    # The refresh lease: whoever holds it is the one process sending this link's refresh
    # token to Tesla (refresh tokens are single use). Claimed and released in short
    # transactions, so no database lock is held across Tesla's token call.
    refresh_lease_token = models.CharField(max_length=32, blank=True, editable=False)
    refresh_lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    health = models.CharField(_("health"), max_length=16, choices=Health, default=Health.OK)
    health_reason = models.TextField(_("reason"), blank=True)
    health_changed_at = models.DateTimeField(auto_now_add=True)
    created_at = models.DateTimeField(_("linked"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("Tesla link")
        verbose_name_plural = _("Tesla links")
        ordering = ("created_at",)
        permissions = [
            ("view_link_status", _("Can view the token status page (link health and refreshes)"))
        ]
        constraints = [
            # One Tesla account is linked to at most one portal user.
            models.UniqueConstraint(
                fields=["auth_server", "subject"], name="accounts_teslalink_unique_account"
            ),
        ]
        indexes = [models.Index(fields=["health", "access_token_expires_at"])]

    def __str__(self) -> str:
        return f"{self.email or self.subject} ({self.get_auth_server_display()}, {self.region})"

    BROKEN = (Health.NEEDS_RELINK, Health.REVOKED)

    @property
    def is_broken(self) -> bool:
        return self.health in self.BROKEN

    @property
    def provider_id(self) -> str:
        return tesla.provider_id(self.auth_server)

    @property
    def missing_scopes(self) -> list[str]:
        from django.conf import settings

        return [s for s in settings.TESLA_REQUIRED_SCOPES if s not in self.scopes]


class RefreshAttempt(models.Model):
    """One call to Tesla's token endpoint for a link: the record behind the staff figures."""

    class Outcome(models.TextChoices):
        OK = "ok", _("Refreshed")
        RETRIED = "retried", _("Transient failure, retried")
        FAILED = "failed", _("Permanent failure")

    link = models.ForeignKey(
        TeslaLink, on_delete=models.CASCADE, related_name="refresh_attempts", null=True
    )
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome)
    error = models.CharField(_("error"), max_length=100, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("token refresh")
        verbose_name_plural = _("token refreshes")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} {self.created_at:%Y-%m-%d %H:%M}"
