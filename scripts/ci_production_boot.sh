#!/usr/bin/env bash
# Boot the production processes the way the README's production steps do, from
# requirements.txt ALONE in a fresh virtualenv (the dev requirements pull in packages that can
# hide a missing runtime dependency): migrate, collectstatic, check --deploy, then gunicorn, a
# Celery worker and Celery beat on Redis under production settings with throwaway secrets.
# Each process runs the ExecStart (and Environment=) of its systemd unit in deploy/systemd/,
# read by scripts/unit_command.py, so the units cannot drift from what CI boots; the units
# themselves are checked first (scripts/ci_systemd_verify.sh).
# Passes when /healthz answers 200 through gunicorn, the worker answers a ping, /healthz reports
# the stream consumer connected to MQTT, the nginx and Caddy examples pass their checks in
# front of this gunicorn (scripts/ci_proxies.sh), and all of them are still running a few
# seconds later; then a probe by IP answers whatever the Host, and /healthz turns 503 once the
# worker is stopped. Everything started here is stopped on exit.
#
# Needs PostgreSQL, Redis and Mosquitto on 127.0.0.1 (.ci/run starts them). Overridable:
#   CI_PROD_DB_NAME (fleetportal_prodboot, dropped and created), CI_PROD_BROKER_URL,
#   CI_PROD_CACHE_URL (Redis databases 9 and 8), CI_PROD_MQTT_URL (mqtt://127.0.0.1:1883),
#   CI_PROD_STAY_UP_SECONDS (5), CI_PROD_VENV (reuse this virtualenv instead of a fresh one:
#   for iterating on this script only, CI never sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

DB_NAME="${CI_PROD_DB_NAME:-fleetportal_prodboot}"
BROKER_URL="${CI_PROD_BROKER_URL:-redis://127.0.0.1:6379/9}"
CACHE_URL="${CI_PROD_CACHE_URL:-redis://127.0.0.1:6379/8}"
STAY_UP="${CI_PROD_STAY_UP_SECONDS:-5}"
MQTT_URL="${CI_PROD_MQTT_URL:-mqtt://127.0.0.1:1883}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fleetportal-prod-boot.XXXXXX")"
VENV="${CI_PROD_VENV:-$WORK/venv}"
PROXY_HOST=portal.ci.test
# PIDS, stop_started, unit_cmd (the units' command lines)
source scripts/lib/processes.sh
trap 'stop_started; rm -rf "$WORK"' EXIT

fail() {
  echo "ci_production_boot: FAILED: $*" >&2
  for log in "$WORK"/*.log; do
    [ -e "$log" ] || continue
    echo "----- $(basename "$log") (last 40 lines)" >&2
    tail -n 40 "$log" >&2
  done
  exit 1
}

echo "--- fresh virtualenv with requirements.txt only ($VENV)"
[ -n "${CI_PROD_VENV:-}" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt

echo "--- the systemd units (deploy/systemd/) against this virtualenv"
bash scripts/ci_systemd_verify.sh "$VENV"

echo "--- PostgreSQL database $DB_NAME (recreated)"
psql -h 127.0.0.1 -U postgres -q -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS $DB_NAME" -c "CREATE DATABASE $DB_NAME" postgres
redis-cli -u "$BROKER_URL" flushdb >/dev/null
redis-cli -u "$CACHE_URL" flushdb >/dev/null

PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
SECRET_KEY="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))')"
KEYS="$("$VENV/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"

# Only these variables: nothing from the CI shell (a DATABASE_URL, a DEBUG) may leak in. An
# array, not a function, so a process started in the background is the one whose pid we keep.
PROD=(env -i PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" HOME="$WORK" LANG=C.UTF-8
  DJANGO_SETTINGS_MODULE=fleetportal.settings.production
  SECRET_KEY="$SECRET_KEY" FIELD_ENCRYPTION_KEYS="$KEYS"
  ALLOWED_HOSTS="127.0.0.1,localhost,$PROXY_HOST" CSRF_TRUSTED_ORIGINS=https://127.0.0.1
  TESLA_CLIENT_ID=ci-prod-boot-client TESLA_CLIENT_SECRET=ci-prod-boot-secret
  DEFAULT_FROM_EMAIL="Fleet Portal <noreply@portal.example.com>"
  PORTAL_PUBLIC_URL=https://portal.example.com
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB_NAME"
  CELERY_BROKER_URL="$BROKER_URL" CACHE_URL="$CACHE_URL")

echo "--- migrate, collectstatic, check --deploy"
"${PROD[@]}" python manage.py migrate --no-input -v 0 >"$WORK/migrate.log" 2>&1 || fail "migrate"
"${PROD[@]}" python manage.py collectstatic --no-input -v 0 >"$WORK/collectstatic.log" 2>&1 ||
  fail "collectstatic"
"${PROD[@]}" python manage.py check --deploy --fail-level WARNING >"$WORK/check.log" 2>&1 ||
  fail "check --deploy"
# What the proxies' checks need: an application key to serve, a user who signs in.
"${PROD[@]}" python manage.py tesla_keygen >"$WORK/keygen.log" 2>&1 || fail "tesla_keygen"
STAFF_PASSWORD="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(18))')"
"${PROD[@]}" STAFF_PASSWORD="$STAFF_PASSWORD" python manage.py create_staff_user \
  --email ci-prod-boot@example.com --password-from-env STAFF_PASSWORD >"$WORK/staff.log" 2>&1 ||
  fail "create_staff_user"

echo "--- gunicorn on 127.0.0.1:$PORT, a Celery worker and Celery beat (the units' command lines)"
unit_cmd fleetportal-web.service --replace "127.0.0.1:8000=127.0.0.1:$PORT" \
  --replace "/run/fleetportal-web=$WORK"
"${PROD[@]}" "${UNIT_CMD[@]}" >"$WORK/gunicorn.log" 2>&1 &
PIDS+=("$!")
unit_cmd fleetportal-worker@.service --instance ci-prod-boot --host localhost
"${PROD[@]}" "${UNIT_CMD[@]}" >"$WORK/worker.log" 2>&1 &
WORKER=$!
PIDS+=("$WORKER")
unit_cmd fleetportal-beat.service
"${PROD[@]}" "${UNIT_CMD[@]}" >"$WORK/beat.log" 2>&1 &
BEAT=$!
PIDS+=("$BEAT")

alive() {
  kill -0 "$WORKER" 2>/dev/null || fail "the Celery worker exited"
  kill -0 "$BEAT" 2>/dev/null || fail "Celery beat exited"
}

# Readiness is polled (bounded), never assumed after a fixed sleep.
status=""
for _ in $(seq 1 60); do
  alive
  status="$(curl -s -o "$WORK/healthz.json" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" || true)"
  [ "$status" = "200" ] && break
  sleep 1
done
[ "$status" = "200" ] || fail "/healthz answered ${status:-nothing}: $(cat "$WORK/healthz.json" 2>/dev/null)"
echo "/healthz: $status $(cat "$WORK/healthz.json")"

pinged=""
for _ in $(seq 1 30); do
  alive
  if "${PROD[@]}" celery -A fleetportal inspect ping -d ci-prod-boot@localhost -t 2 \
    >"$WORK/ping.log" 2>&1; then
    pinged=yes
    break
  fi
  sleep 1
done
[ -n "$pinged" ] || fail "the worker never answered a ping"
for _ in $(seq 1 30); do
  alive
  grep -q "beat: Starting" "$WORK/beat.log" && break
  sleep 1
done
grep -q "beat: Starting" "$WORK/beat.log" || fail "beat did not start"

echo "--- one beat, enforced (fleetportal/beat.py): a second refuses; one started after SIGKILL runs"
# The beat lock is a PostgreSQL advisory lock on fleetportal.beat.ADVISORY_LOCK_KEY; this
# prints the backend pid of the session holding it (none: empty).
beat_lock_holder() {
  psql -h 127.0.0.1 -U postgres -d "$DB_NAME" -tAq -c "SELECT pid FROM pg_locks
    WHERE locktype = 'advisory' AND granted
    AND ((classid::bigint << 32) | objid::bigint) = x'466C656574426561'::bigint"
}
holder=""
for _ in $(seq 1 30); do
  alive
  holder="$(beat_lock_holder)"
  [ -n "$holder" ] && break
  sleep 1
done
[ -n "$holder" ] || fail "the running beat does not hold the beat lock"
status=0
timeout 120 "${PROD[@]}" "${UNIT_CMD[@]}" >"$WORK/beat-second.log" 2>&1 || status=$?
[ "$status" != 124 ] || fail "a second beat kept running next to the first"
[ "$status" != 0 ] || fail "a second beat exited with status 0"
grep -q "run exactly one beat" "$WORK/beat-second.log" || fail "the second beat did not say why it stopped"
alive
kill -KILL "$BEAT"
wait "$BEAT" 2>/dev/null || true
"${PROD[@]}" "${UNIT_CMD[@]}" >"$WORK/beat-after-kill.log" 2>&1 &
BEAT=$!
PIDS+=("$BEAT")
# Held by another session than the killed beat's: the new beat's.
new_holder=""
for _ in $(seq 1 60); do
  alive
  new_holder="$(beat_lock_holder)"
  [ -n "$new_holder" ] && [ "$new_holder" != "$holder" ] && break
  sleep 1
done
[ -n "$new_holder" ] && [ "$new_holder" != "$holder" ] ||
  fail "no new beat could take the lock after the first was killed"
echo "a second beat refused (status $status); after SIGKILL of the first, a new beat holds the lock"

echo "--- the stream consumer on the machine's Mosquitto ($MQTT_URL)"
unit_cmd fleetportal-stream.service
"${PROD[@]}" TELEMETRY_MQTT_URL="$MQTT_URL" TELEMETRY_MQTT_TOPIC_BASE=ci-prod-boot \
  TELEMETRY_MQTT_CLIENT_ID=ci-prod-boot-stream "${UNIT_CMD[@]}" >"$WORK/stream.log" 2>&1 &
STREAM=$!
PIDS+=("$STREAM")
streaming=""
for _ in $(seq 1 60); do
  alive
  kill -0 "$STREAM" 2>/dev/null || fail "the stream consumer exited"
  curl -s "http://127.0.0.1:$PORT/healthz" >"$WORK/healthz.json" || true
  if grep -q '"stream": {"status": "ok"' "$WORK/healthz.json"; then
    streaming=yes
    break
  fi
  sleep 1
done
[ -n "$streaming" ] || fail "/healthz never reported the stream consumer connected: $(cat "$WORK/healthz.json")"
echo "/healthz: $(cat "$WORK/healthz.json")"

echo "--- the reverse proxy examples in front of this gunicorn"
CI_PROXY_UPSTREAM="127.0.0.1:$PORT" CI_PROXY_HOST="$PROXY_HOST" CI_PROXY_EMAIL=ci-prod-boot@example.com \
  CI_PROXY_PASSWORD="$STAFF_PASSWORD" CI_PROXY_ACCESS_LOG="$WORK/gunicorn.log" \
  bash scripts/ci_proxies.sh || fail "the reverse proxy examples"

# Still up a few seconds later (a transport that fails on first use kills them by now).
sleep "$STAY_UP"
alive
kill -0 "$STREAM" 2>/dev/null || fail "the stream consumer exited"

echo "--- /healthz by IP address with a Host outside ALLOWED_HOSTS, then with the worker stopped"
status="$(curl -s -o "$WORK/healthz.json" -w '%{http_code}' -H 'Host: 10.9.8.7' "http://127.0.0.1:$PORT/healthz" || true)"
[ "$status" = "200" ] || fail "the loopback probe with an unlisted Host answered ${status:-nothing}"
status="$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: 10.9.8.7' "http://127.0.0.1:$PORT/" || true)"
[ "$status" = "400" ] || fail "/ with an unlisted Host answered ${status:-nothing}, not 400"
kill -TERM "$WORKER"
wait "$WORKER" 2>/dev/null || true
for _ in $(seq 1 30); do
  status="$(curl -s -o "$WORK/healthz.json" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" || true)"
  [ "$status" = "503" ] && break
  sleep 1
done
[ "$status" = "503" ] || fail "/healthz answered ${status:-nothing} with the worker stopped"
grep -q '"worker": "error: no worker answered a ping"' "$WORK/healthz.json" ||
  fail "/healthz did not name the worker: $(cat "$WORK/healthz.json")"
echo "/healthz with the worker stopped: $status $(cat "$WORK/healthz.json")"
echo "ci_production_boot: OK (gunicorn, worker, beat and the stream consumer up on requirements.txt alone)"
