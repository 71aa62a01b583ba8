# Shared by scripts/ci_production_boot.sh and scripts/rehearse.sh (sourced, not run): the
# processes of the systemd units, started from their own command lines, and stopped on exit.
# The caller sets VENV (the virtualenv the units run from) and WORK (a temporary folder), and
# defines fail MESSAGE.

# Background processes started here; stop_started stops them all (for an EXIT trap).
PIDS=()
stop_started() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}

# The command line of a unit in deploy/systemd/ as the array UNIT_CMD, its install path
# replaced by this virtualenv: unit_cmd UNIT [unit_command.py options].
unit_cmd() {
  python3 scripts/unit_command.py "deploy/systemd/$1" --replace "/opt/fleetportal/venv=$VENV" \
    "${@:2}" >"$WORK/unit-cmd" || fail "reading deploy/systemd/$1"
  mapfile -d '' UNIT_CMD <"$WORK/unit-cmd"
}
