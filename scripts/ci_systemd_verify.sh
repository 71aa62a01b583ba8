#!/usr/bin/env bash
# Check the systemd units of deploy/systemd/ (docs/deploy.md) with `systemd-analyze verify`,
# against a real install: a copy of the units whose /opt/fleetportal/venv and
# /opt/fleetportal/app point at VENV (a virtualenv with requirements.txt installed) and this
# checkout, so verify finds (or misses) the very gunicorn, celery and python the units start.
# Any message from verify fails, warnings included (an unknown or misspelt key is only a
# warning to systemd). Then the rules verify cannot see: every service runs as a dedicated
# user (not root), reads /etc/fleetportal/fleetportal.env and restarts always; beat is one
# plain unit, never a template.
#
#   bash scripts/ci_systemd_verify.sh VENV
# scripts/ci_production_boot.sh calls it with its fresh virtualenv. Needs systemd-analyze
# (Debian's systemd package); it does not need systemd to be running.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$(cd "${1:?usage: ci_systemd_verify.sh VENV}" && pwd)"
UNITS=deploy/systemd

COPY="$(mktemp -d "${TMPDIR:-/tmp}/fleetportal-units.XXXXXX")"
trap 'rm -rf "$COPY"' EXIT
for unit in "$UNITS"/*; do
  sed -e "s#/opt/fleetportal/venv#$VENV#g" -e "s#/opt/fleetportal/app#$(pwd)#g" \
    "$unit" >"$COPY/$(basename "$unit")"
done

fail() {
  echo "ci_systemd_verify: FAILED: $*" >&2
  exit 1
}

services=(fleetportal-web.service fleetportal-worker@.service fleetportal-beat.service
  fleetportal-stream.service)
for unit in "${services[@]}"; do
  [ -f "$COPY/$unit" ] || fail "$UNITS/$unit is missing"
done
# The template is verified as an instance too: that is what systemd starts.
(cd "$COPY" && systemd-analyze verify "${services[@]}" fleetportal-worker@1.service \
  fleetportal.target) >"$COPY/verify.log" 2>&1 || fail "systemd-analyze verify: $(cat "$COPY/verify.log")"
[ ! -s "$COPY/verify.log" ] || fail "systemd-analyze verify printed: $(cat "$COPY/verify.log")"

for unit in "${services[@]}"; do
  file="$COPY/$unit"
  grep -Eq '^User=[a-z_][a-z0-9_-]*$' "$file" && ! grep -Eq '^User=(root|0)$' "$file" ||
    fail "$unit must run as a dedicated User=, not root"
  grep -qx 'EnvironmentFile=/etc/fleetportal/fleetportal.env' "$file" ||
    fail "$unit must read EnvironmentFile=/etc/fleetportal/fleetportal.env"
  grep -qx 'Restart=always' "$file" || fail "$unit must have Restart=always"
done
beats="$(grep -l -- ' beat' "$COPY"/*.service | xargs -n1 basename)"
[ "$beats" = "fleetportal-beat.service" ] || fail "exactly one beat unit (not a template), found: $beats"
echo "ci_systemd_verify: OK (${#services[@]} units, systemd-analyze verify clean)"
