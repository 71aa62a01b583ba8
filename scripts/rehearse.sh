#!/usr/bin/env bash
# `make rehearsal`: walk the operator guide (docs/operator-guide.md) under production settings
# against the Tesla sandbox, over TLS and through the nginx example, before touching real Tesla
# (docs/rehearsal.md). Each step prints the guide's section number, runs the guide's own
# command and checks its effect; a failure names the section to read and exits 1. Everything
# started is stopped on exit, and the temporary folder removed.
#
# What runs, in a temporary folder: a fresh virtualenv from requirements.txt; one throwaway CA
# (scripts/lib/proxy.sh) with a certificate for localhost and 127.0.0.1 that both the sandbox
# (HTTPS) and nginx serve; the sandbox, whose two "developer applications" (global and China)
# are created through its control API with the portal's callback and origin, as an operator
# creates them on developer.tesla.com; PostgreSQL database fleetportal_rehearsal (recreated);
# gunicorn, a Celery worker and beat from the systemd units' command lines (as
# scripts/ci_production_boot.sh), production settings with TESLA_REHEARSAL=true; nginx in
# front with TLS. The portal's host is `localhost` and its partner domain `localhost:PORT`: a
# loopback name is the only kind the sandbox accepts with a port (sandbox/README.md, "Key
# fetch"), and `--key-fetch-https` makes it fetch the key over https through nginx, as Tesla
# does. The staff user created in section 7 links the sandbox's alice (a create_staff_user
# account is confirmed already: no mail server is needed).
#
# Needs PostgreSQL and Redis on 127.0.0.1, nginx and openssl. Overridable: REHEARSAL_DB_NAME
# (fleetportal_rehearsal), REHEARSAL_BROKER_URL and REHEARSAL_CACHE_URL (Redis databases 4
# and 7, flushed), REHEARSAL_VENV (reuse this virtualenv instead of a fresh one).
set -euo pipefail
cd "$(dirname "$0")/.."
# free_port, template, throwaway_tls, nginx_example, nginx_run; PIDS, stop_started, unit_cmd
source scripts/lib/proxy.sh
source scripts/lib/processes.sh

DB_NAME="${REHEARSAL_DB_NAME:-fleetportal_rehearsal}"
BROKER_URL="${REHEARSAL_BROKER_URL:-redis://127.0.0.1:6379/4}"
CACHE_URL="${REHEARSAL_CACHE_URL:-redis://127.0.0.1:6379/7}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fleetportal-rehearsal.XXXXXX")"
VENV="${REHEARSAL_VENV:-$WORK/venv}"
TESLA_USER=alice@example.com
STAFF_EMAIL=rehearsal@example.com
trap 'stop_started; rm -rf "$WORK"' EXIT

SECTION="before section 7"
fail() {
  echo "rehearsal FAILED at $SECTION: $*" >&2
  echo "Read docs/operator-guide.md, ${SECTION} (the logs follow)." >&2
  for log in "$WORK"/*.log; do
    [ -e "$log" ] || continue
    echo "----- $(basename "$log") (last 25 lines)" >&2
    tail -n 25 "$log" >&2
  done
  exit 1
}
step() {
  SECTION="$1"
  echo "=== $1 $2"
}
ok() { echo "    ok: $*"; }
# until_prints WANT TRIES CMD...: run CMD once a second until it prints WANT, at most TRIES
# times (readiness is polled, never assumed after a fixed sleep); GOT holds its last output.
GOT=""
until_prints() {
  local want="$1" tries="$2"
  shift 2
  for _ in $(seq 1 "$tries"); do
    GOT="$("$@" 2>/dev/null || true)"
    [ "$GOT" = "$want" ] && return 0
    sleep 1
  done
  return 1
}

step "section 1" "What you need: a fresh virtualenv with requirements.txt ($VENV)"
[ -n "${REHEARSAL_VENV:-}" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt >"$WORK/pip.log" 2>&1 ||
  fail "pip install -r requirements.txt"
PY="$VENV/bin/python"

SANDBOX_PORT="$(free_port)"
PORT="$(free_port)"
HTTPS_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
HOST=localhost
ORIGIN="https://$HOST:$HTTPS_PORT"
SANDBOX="https://127.0.0.1:$SANDBOX_PORT"
CA="$WORK/ca.pem"
throwaway_tls "$WORK" "$HOST" "DNS:$HOST" "IP:127.0.0.1" || fail "the throwaway CA"
CURL=(curl -sS --cacert "$CA" --max-time 20)

step "section 2" "Try it first with the sandbox: the sandbox on $SANDBOX (TLS, throwaway CA)"
# REQUESTS_CA_BUNDLE: the sandbox fetches the portal's key through nginx, over https.
env REQUESTS_CA_BUNDLE="$CA" "$PY" -m sandbox --host 127.0.0.1 --port "$SANDBOX_PORT" \
  --state-dir "$WORK/sandbox" --tls-cert "$WORK/server.pem" --tls-key "$WORK/server-key.pem" \
  --key-fetch-https >"$WORK/sandbox.log" 2>&1 &
PIDS+=("$!")
until_prints ok 30 "${CURL[@]}" "$SANDBOX/fleet/na/status" || fail "the sandbox never answered on $SANDBOX"
ok "the sandbox answers over TLS"

step "section 4" "Create the Tesla developer application (global), section 5 the China one: in the sandbox"
new_client() {
  "${CURL[@]}" -f -H 'Content-Type: application/json' "$SANDBOX/control/clients" -d \
    "{\"server\": \"$1\", \"name\": \"Fleet Portal rehearsal\", \"allowed_origins\": [\"$ORIGIN\"],
      \"redirect_uris\": [\"$ORIGIN/accounts/tesla/login/callback/\"]}" >"$WORK/client-$1.json" ||
    fail "POST $SANDBOX/control/clients ($1)"
  CLIENT_ID="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["client_id"])' "$WORK/client-$1.json")"
  CLIENT_SECRET="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["client_secret"])' "$WORK/client-$1.json")"
}
new_client global
GLOBAL_ID="$CLIENT_ID" GLOBAL_SECRET="$CLIENT_SECRET"
new_client cn
CN_ID="$CLIENT_ID" CN_SECRET="$CLIENT_SECRET"
ok "applications with origin $ORIGIN and callback $ORIGIN/accounts/tesla/login/callback/"

step "section 6" "Configure the portal: production settings, TESLA_REHEARSAL=true, database $DB_NAME"
psql -h 127.0.0.1 -U postgres -q -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS $DB_NAME" -c "CREATE DATABASE $DB_NAME" postgres >"$WORK/psql.log" 2>&1 ||
  fail "recreating PostgreSQL database $DB_NAME"
redis-cli -u "$BROKER_URL" flushdb >/dev/null || fail "Redis at $BROKER_URL"
redis-cli -u "$CACHE_URL" flushdb >/dev/null || fail "Redis at $CACHE_URL"
SECRET_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(50))')"
KEYS="$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
# Only these variables (nothing from the calling shell), as the systemd units' environment file.
PROD=(env -i PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" HOME="$WORK" LANG=C.UTF-8
  DJANGO_SETTINGS_MODULE=fleetportal.settings.production
  SECRET_KEY="$SECRET_KEY" FIELD_ENCRYPTION_KEYS="$KEYS"
  ALLOWED_HOSTS="$HOST,127.0.0.1" CSRF_TRUSTED_ORIGINS="$ORIGIN"
  PORTAL_PUBLIC_URL="$ORIGIN" TESLA_ALLOWED_ORIGINS="$ORIGIN"
  DEFAULT_FROM_EMAIL="Fleet Portal <noreply@portal.example.com>"
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB_NAME"
  CELERY_BROKER_URL="$BROKER_URL" CACHE_URL="$CACHE_URL"
  TESLA_REHEARSAL=true TESLA_ENV=sandbox TESLA_SANDBOX_URL="$SANDBOX" TESLA_CA_BUNDLE="$CA"
  TESLA_CLIENT_ID="$GLOBAL_ID" TESLA_CLIENT_SECRET="$GLOBAL_SECRET"
  TESLA_CN_CLIENT_ID="$CN_ID" TESLA_CN_CLIENT_SECRET="$CN_SECRET"
  TELEMETRY_RECONCILE_SWEEP_SECONDS=5)
manage() { "${PROD[@]}" python manage.py "$@"; }
# A Python line run by manage.py shell under the production settings.
# Its stderr (the rehearsal warning every process logs at start, tracebacks) goes to shell.log.
django() { "${PROD[@]}" python manage.py shell -v 0 -c "$1" 2>>"$WORK/shell.log"; }
"${PROD[@]}" TESLA_REHEARSAL=false python -c 'import django; django.setup()' >"$WORK/refusal.log" 2>&1 &&
  fail "production settings accepted the sandbox without TESLA_REHEARSAL"
grep -q TESLA_REHEARSAL "$WORK/refusal.log" || fail "the refusal does not name TESLA_REHEARSAL"
ok "without TESLA_REHEARSAL production refuses the sandbox: $(tail -n 1 "$WORK/refusal.log" | cut -c1-100)…"

step "section 7" "Deploy and start the processes"
manage migrate >"$WORK/migrate.log" 2>&1 || fail "python manage.py migrate"
manage collectstatic --no-input >"$WORK/collectstatic.log" 2>&1 || fail "collectstatic"
manage check --deploy --fail-level WARNING >"$WORK/check.log" 2>&1 || fail "check --deploy"
STAFF_PASSWORD="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(18))')"
"${PROD[@]}" STAFF_PASSWORD="$STAFF_PASSWORD" python manage.py create_staff_user \
  --email "$STAFF_EMAIL" --superuser --password-from-env STAFF_PASSWORD >"$WORK/staff.log" 2>&1 ||
  fail "create_staff_user"
ok "migrate, collectstatic, check --deploy (no issues), create_staff_user --superuser"

unit_cmd fleetportal-web.service --replace "127.0.0.1:8000=127.0.0.1:$PORT" \
  --replace "/run/fleetportal-web=$WORK"
"${PROD[@]}" "${UNIT_CMD[@]}" >"$WORK/gunicorn.log" 2>&1 &
PIDS+=("$!")
unit_cmd fleetportal-worker@.service --instance rehearsal --host localhost
"${PROD[@]}" "${UNIT_CMD[@]}" >"$WORK/worker.log" 2>&1 &
PIDS+=("$!")
unit_cmd fleetportal-beat.service
"${PROD[@]}" "${UNIT_CMD[@]}" >"$WORK/beat.log" 2>&1 &
PIDS+=("$!")
nginx_example "$WORK" "$HOST" "127.0.0.1:$PORT" "$HTTPS_PORT" "$HTTP_PORT" ||
  fail "the nginx example: $(cat "$WORK/nginx-t.log" 2>/dev/null)"
nginx_run "$WORK" &
PIDS+=("$!")
until_prints 200 90 "${CURL[@]}" -o "$WORK/healthz.json" -w '%{http_code}' "$ORIGIN/healthz" ||
  fail "$ORIGIN/healthz answered ${GOT:-nothing}: $(cat "$WORK/healthz.json" 2>/dev/null)"
grep -q '"rehearsal": true' "$WORK/healthz.json" || fail "/healthz does not report the rehearsal"
grep -q "REHEARSAL: TESLA_REHEARSAL is on" "$WORK/gunicorn.log" || fail "gunicorn did not log the rehearsal at start"
"${CURL[@]}" "$ORIGIN/accounts/login/" | grep -q "Rehearsal: this portal talks to the Tesla sandbox" ||
  fail "the sign-in page shows no rehearsal banner"
ok "gunicorn, worker and beat (the units' command lines) behind nginx: $ORIGIN/healthz 200, \"rehearsal\": true, banner shown"

step "section 8" "The application key and its public URL"
manage tesla_keygen >"$WORK/keygen.log" 2>&1 || fail "python manage.py tesla_keygen"
headers="$("${CURL[@]}" -o "$WORK/key.pem" -w '%{http_code} %{redirect_url}' \
  "$ORIGIN/.well-known/appspecific/com.tesla.3p.public-key.pem")"
[ "$headers" = "200 " ] || fail "the public key URL answered '$headers', not 200 without redirect"
grep -q -- "-----BEGIN PUBLIC KEY-----" "$WORK/key.pem" || fail "the public key URL serves no PEM key"
ok "tesla_keygen; the key URL answers 200 over TLS, no redirect"
manage tesla_preflight >"$WORK/preflight.log" 2>>"$WORK/shell.log" || fail "python manage.py tesla_preflight: $(grep FAIL "$WORK/preflight.log")"
grep '^\[' "$WORK/preflight.log" | sed 's/^/    /'
ok "every pre-flight check green"

step "section 9" "Register the portal in every region"
manage tesla_register >"$WORK/register.log" 2>>"$WORK/shell.log" || fail "python manage.py tesla_register: $(cat "$WORK/register.log")"
sed 's/^/    /' "$WORK/register.log"
django "from partners import selectors as p; rows = {r.region: r.state for r in p.registrations()}; print(rows); assert rows == {'NA': 'registered', 'EU': 'registered', 'CN': 'registered'}, rows" \
  >"$WORK/registered.log" || fail "not every region is registered: $(cat "$WORK/registered.log")"
ok "NA, EU and CN registered (the sandbox fetched the key from $ORIGIN)"

step "section 10" "Link the first Tesla account: $STAFF_EMAIL links $TESLA_USER (Global) over HTTPS"
"${PROD[@]}" PYTHONPATH=. REHEARSAL_PASSWORD="$STAFF_PASSWORD" python scripts/rehearse_link.py \
  "$ORIGIN" "$CA" "$STAFF_EMAIL" "$TESLA_USER" >"$WORK/link.log" 2>&1 ||
  fail "linking $TESLA_USER: $(tail -n 1 "$WORK/link.log")"
ok "signed in, consented at the sandbox, $(tail -n 1 "$WORK/link.log")"
until_prints True 60 django "from vehicles.models import Vehicle; print(Vehicle.objects.exists())" ||
  fail "the worker synced no vehicle for the new link"
cars="$(django "from vehicles.models import Vehicle; print(Vehicle.objects.count())")"
django "from accounts.models import TeslaLink; link = TeslaLink.objects.get(); print(link.email, link.region, link.health)" \
  >"$WORK/link-state.log" || fail "no Tesla link: $(cat "$WORK/link-state.log")"
ok "link $(cat "$WORK/link-state.log"); the worker synced $cars vehicles"

step "section 11" "Pair the portal's key with a car (the sandbox's control API plays the Tesla app)"
VIN="$(django "from vehicles.models import Vehicle; print(Vehicle.objects.filter(vin='5YJ3E1EA7PF000001').values_list('vin', flat=True).get())")" ||
  fail "alice's Model 3 (5YJ3E1EA7PF000001) was not synced"
"${CURL[@]}" -f -H 'Content-Type: application/json' -d "{\"domain\": \"$HOST:$HTTPS_PORT\"}" \
  "$SANDBOX/control/vehicles/$VIN/pair" >/dev/null || fail "pairing $VIN in the sandbox"
# "Sync now" (vehicles_sync_for_user), then the worker reads fleet_status.
django "from accounts.models import User; from vehicles import services; services.vehicles_sync_for_user(user=User.objects.get(email='$STAFF_EMAIL'))" \
  >/dev/null || fail "Sync now"
until_prints True 60 django "from vehicles.models import Vehicle; print(Vehicle.objects.get(vin='$VIN').key_paired)" ||
  fail "$VIN never showed Key paired: Yes (key_paired: ${GOT:-unknown})"
ok "$VIN: Key paired: Yes"

step "section 11" "Telemetry configurations: build one, assign $VIN, push it (the builder's services)"
django "
import datetime as dt
from django.utils import timezone
from accounts.models import User
from telemetry.models import TelemetryConfig, TelemetryField
from telemetry.services import configs, push
staff = User.objects.get(email='$STAFF_EMAIL')
config = TelemetryConfig.objects.create(name='Rehearsal', hostname='$HOST', port=4443, ca=open('$CA').read(), exp=timezone.now() + dt.timedelta(days=365), delivery_policy='latest', alert_types=['service'], created_by=staff)
TelemetryField.objects.create(config=config, name='Soc', interval_seconds=60)
TelemetryField.objects.create(config=config, name='VehicleSpeed', interval_seconds=10)
configs.telemetry_config_saved(config=config, user=staff, created=True)
print(configs.telemetry_config_assign(config=config, vins=['$VIN'], user=staff))
print(push.telemetry_push_start(config=config, user=staff))
" >"$WORK/push.log" || fail "building and pushing the configuration: $(tail -n 3 "$WORK/push.log")"
DEPLOYMENT="from telemetry.models import TelemetryDeployment as D; print(D.objects.get(vehicle__vin='$VIN').status)"
until_prints updated 60 django "$DEPLOYMENT" ||
  fail "the push did not reach Tesla: the deployment is '${GOT:-missing}'"
ok "pushed: Accepted, waiting for the car"

step "section 11" "The car picks the configuration up; beat's reconcile shows it synced"
"${CURL[@]}" -f -H 'Content-Type: application/json' -d '{}' "$SANDBOX/control/vehicles/$VIN/telemetry_pickup" >/dev/null ||
  fail "telemetry_pickup in the sandbox"
until_prints synced 60 django "$DEPLOYMENT" || fail "the deployment stayed '$GOT', never Synced"
ok "$VIN: Synced"

echo "rehearsal passed (${SECONDS}s): the operator guide's steps ran under production settings against the sandbox, over TLS through nginx"
