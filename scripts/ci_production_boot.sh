#!/usr/bin/env bash
# Boot the production processes the way the README's production steps do, from
# requirements.txt ALONE in a fresh virtualenv (the dev requirements pull in packages that can
# hide a missing runtime dependency): migrate, collectstatic, check --deploy, then gunicorn, a
# Celery worker and Celery beat on Redis under production settings with throwaway secrets.
# Passes when /healthz answers 200 through gunicorn, the worker answers a ping, /healthz reports
# the stream consumer connected to MQTT, and all of them are still running a few seconds later;
# then a probe by IP answers whatever the Host, and /healthz turns 503 once the worker is
# stopped. Everything started here is stopped on exit.
#
# Needs PostgreSQL, Redis and Mosquitto on 127.0.0.1 (.ci/run starts them). Overridable:
#   CI_PROD_DB_NAME (fleetportal_prodboot, dropped and created), CI_PROD_BROKER_URL,
#   CI_PROD_CACHE_URL (Redis databases 9 and 8), CI_PROD_MQTT_URL (mqtt://127.0.0.1:1883),
#   CI_PROD_STAY_UP_SECONDS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

DB_NAME="${CI_PROD_DB_NAME:-fleetportal_prodboot}"
BROKER_URL="${CI_PROD_BROKER_URL:-redis://127.0.0.1:6379/9}"
CACHE_URL="${CI_PROD_CACHE_URL:-redis://127.0.0.1:6379/8}"
STAY_UP="${CI_PROD_STAY_UP_SECONDS:-5}"
MQTT_URL="${CI_PROD_MQTT_URL:-mqtt://127.0.0.1:1883}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fleetportal-prod-boot.XXXXXX")"
VENV="$WORK/venv"
PIDS=()

stop_all() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap stop_all EXIT

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
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt

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
  ALLOWED_HOSTS=127.0.0.1,localhost CSRF_TRUSTED_ORIGINS=https://127.0.0.1
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

echo "--- gunicorn on 127.0.0.1:$PORT, a Celery worker and Celery beat"
"${PROD[@]}" gunicorn fleetportal.wsgi --bind "127.0.0.1:$PORT" --workers 2 >"$WORK/gunicorn.log" 2>&1 &
PIDS+=("$!")
"${PROD[@]}" celery -A fleetportal worker --loglevel=INFO --concurrency 1 -n ci-prod-boot@localhost \
  >"$WORK/worker.log" 2>&1 &
WORKER=$!
PIDS+=("$WORKER")
"${PROD[@]}" celery -A fleetportal beat --loglevel=INFO >"$WORK/beat.log" 2>&1 &
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

echo "--- the stream consumer on the machine's Mosquitto ($MQTT_URL)"
"${PROD[@]}" TELEMETRY_MQTT_URL="$MQTT_URL" TELEMETRY_MQTT_TOPIC_BASE=ci-prod-boot \
  TELEMETRY_MQTT_CLIENT_ID=ci-prod-boot-stream python manage.py telemetry_stream \
  >"$WORK/stream.log" 2>&1 &
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
