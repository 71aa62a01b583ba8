"""Create a staff user who can sign in at once (email already confirmed).

`createsuperuser` makes a user whose email address allauth has never seen: with mandatory
verification (settings ACCOUNT_EMAIL_VERIFICATION) that user cannot sign in until a
confirmation email is followed. This command records the address as verified and primary.
"""

from __future__ import annotations

import getpass
import os

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse

from accounts.models import User


class Command(BaseCommand):
    help = (
        "Create (or update) a staff user whose email is already confirmed, so they can sign "
        "in at once. The password is read from a prompt (not echoed) or from an environment "
        "variable named by --password-from-env."
    )

    def add_arguments(self, parser: object) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--superuser", action="store_true", help="Hold every permission (superuser)."
        )
        parser.add_argument(
            "--permission",
            action="append",
            default=[],
            metavar="APP.CODENAME",
            help="A permission to grant, e.g. partners.manage_partner (repeatable).",
        )
        parser.add_argument(
            "--password-from-env",
            metavar="VAR",
            help="Read the password from this environment variable instead of a prompt.",
        )

    def handle(self, *args: object, **options: object) -> None:
        email = User.objects.normalize_email(str(options["email"])).strip().lower()
        if "@" not in email:
            raise CommandError(f"Not an email address: {email!r}")
        perms = [self._permission(p) for p in options["permission"]]
        password = self._password(options.get("password_from_env"))
        user = User.objects.filter(email__iexact=email).first()
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

        with transaction.atomic():
            created = user is None
            if created:
                user = User(email=email)
            user.is_staff = True
            user.is_active = True
            if options["superuser"]:
                user.is_superuser = True
            user.set_password(password)
            user.save()
            if perms:
                user.user_permissions.add(*perms)
            EmailAddress.objects.filter(user=user).exclude(email__iexact=email).update(
                primary=False
            )
            address, _ = EmailAddress.objects.get_or_create(
                user=user, email__iexact=email, defaults={"email": email}
            )
            address.verified = True
            address.primary = True
            address.save()

        kind = "superuser" if user.is_superuser else "staff user"
        verb = "Created" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {kind} {email} (email confirmed): sign in at {reverse('account_login')}"
            )
        )

    def _permission(self, label: str) -> Permission:
        app_label, _, codename = label.partition(".")
        if not app_label or not codename:
            raise CommandError(f"Permission {label!r} is not app_label.codename")
        found = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if found is None:
            raise CommandError(f"No such permission: {label}")
        return found

    def _password(self, env_var: object) -> str:
        if env_var:
            password = os.environ.get(str(env_var), "")
            if not password:
                raise CommandError(f"Environment variable {env_var} is empty or not set")
            return password
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ")
        if not password:
            raise CommandError("An empty password is not allowed")
        return password
