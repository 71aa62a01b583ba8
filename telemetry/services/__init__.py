"""Writes for telemetry, one module per idea; `from telemetry import services` reaches them all.

- `configs`: a config's versions, the one save (builder and admin), assignment
- `push`: push and removal runs, started and carried out per link
- `runs`: a run's lifecycle (dispatch, heartbeat, close, fail) and the sweep that ends lost runs
- `reconcile`: ask Tesla whether each car adopted the config
- `resign`: re-sign and re-push before exp
- `tesla_errors`: the errors cars reported, read through Tesla
- `stream_watch`: resync one car; tell staff when a streaming car goes silent
- `history`: the retention of streamed history points
- `audit`: the audit log entries all of them write

Reads are in `telemetry.selectors`, error explanations in `telemetry.explanations`.
"""

from telemetry.services.configs import (
    AssignOutcome,
    StaleEdit,
    config_payload,
    content_hash,
    telemetry_config_assign,
    telemetry_config_assign_vehicles,
    telemetry_config_save,
    telemetry_config_saved,
    telemetry_version_current,
)
from telemetry.services.history import telemetry_history_purge
from telemetry.services.push import (
    ConfigExpired,
    telemetry_push_chunk,
    telemetry_push_link,
    telemetry_push_start,
    telemetry_remove_start,
)
from telemetry.services.reconcile import telemetry_deployment_reconcile, telemetry_reconcile_due
from telemetry.services.resign import telemetry_config_resign, telemetry_resign_due
from telemetry.services.runs import (
    RUN_WAITING,
    telemetry_push_dispatch,
    telemetry_run_fail,
    telemetry_run_heartbeat,
    telemetry_runs_sweep,
)
from telemetry.services.stream_watch import (
    NothingToResync,
    telemetry_stream_watch,
    telemetry_vehicle_resync,
)
from telemetry.services.tesla_errors import (
    telemetry_partner_errors,
    telemetry_vehicle_errors,
    telemetry_vehicle_errors_as_staff,
)

__all__ = [
    "AssignOutcome",
    "ConfigExpired",
    "NothingToResync",
    "RUN_WAITING",
    "StaleEdit",
    "config_payload",
    "content_hash",
    "telemetry_config_assign",
    "telemetry_config_assign_vehicles",
    "telemetry_config_resign",
    "telemetry_config_save",
    "telemetry_config_saved",
    "telemetry_deployment_reconcile",
    "telemetry_history_purge",
    "telemetry_partner_errors",
    "telemetry_push_chunk",
    "telemetry_push_dispatch",
    "telemetry_push_link",
    "telemetry_push_start",
    "telemetry_reconcile_due",
    "telemetry_remove_start",
    "telemetry_resign_due",
    "telemetry_run_fail",
    "telemetry_run_heartbeat",
    "telemetry_runs_sweep",
    "telemetry_stream_watch",
    "telemetry_vehicle_errors",
    "telemetry_vehicle_errors_as_staff",
    "telemetry_vehicle_resync",
    "telemetry_version_current",
]
