"""Django's admin app with the portal's admin site (fleetportal.admin_site)."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    # Not in fleetportal/apps.py, where Django would take it for the `fleetportal` app's config.
    default_site = "fleetportal.admin_site.PortalAdminSite"
