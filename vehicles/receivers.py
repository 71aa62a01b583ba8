"""What vehicles does when a lower app tells it something (connected in VehiclesConfig.ready)."""

from __future__ import annotations

import logging
from typing import Any

from accounts.models import TeslaLink
from fleetportal.queueing import QueueUnavailable
from vehicles import services

logger = logging.getLogger(__name__)


def sync_connected_link(sender: Any, link: TeslaLink, **kwargs: Any) -> None:
    """A link was stored (linked or relinked): its cars appear without waiting for the sweep."""
    try:
        services.vehicles_sync_queue(link=link, trigger="link")
    except QueueUnavailable:
        # The link is committed and must not turn into an error page: the run is already
        # marked failed, and the next sweep (or "Sync now") syncs it.
        logger.warning("could not queue the sync of a newly connected link %s", link.pk)
