#!/usr/bin/env bash
# Run the reverse proxy examples (deploy/nginx/fleetportal.conf, deploy/caddy/Caddyfile) in
# front of a running production gunicorn, one after the other, and check over HTTPS what
# docs/deploy.md promises. scripts/ci_production_boot.sh calls it while its processes run;
# the example files are used as they are, with only the host name, ports, certificate paths
# and upstream substituted (each substitution must match, so an edited example fails here
# rather than being tested in a different shape).
#
# A throwaway CA and a server certificate for CI_PROXY_HOST are made with openssl; curl trusts
# that CA only (--cacert) and reaches the proxy through --resolve. Checked for each proxy:
#   - the login page answers 200 over HTTPS: Host reached Django unchanged (else 400
#     DisallowedHost) and X-Forwarded-Proto said https (else SECURE_SSL_REDIRECT's 301);
#   - signed in, starting "link a Tesla account" sends the browser to Tesla with
#     redirect_uri=https://HOST:PORT/accounts/tesla/login/callback/, built from that Host;
#   - the public key URL answers 200, application/x-pem-file, a PEM public key, no redirect;
#   - /healthz answers 200 from 127.0.0.1 and 403 from 127.0.0.2 (curl --interface: another
#     source address, so "outside" for the proxy's allow list);
#   - the client address (127.0.0.2) is the last X-Forwarded-For entry gunicorn logged, even
#     when the client sent a forged X-Forwarded-For of its own;
#   - plain HTTP is redirected to the same URL over HTTPS.
# nginx and Caddy run as root in the foreground, configs, pid files and logs in a temporary
# folder, on free high ports; both are stopped on exit. The certificate, the nginx example's
# substitutions and its wrapper config are scripts/lib/proxy.sh's (shared with rehearse.sh).
#
# Needs (from the caller's environment):
#   CI_PROXY_UPSTREAM   host:port of gunicorn (production settings, ALLOWED_HOSTS with the host)
#   CI_PROXY_HOST       the test host name (e.g. portal.ci.test)
#   CI_PROXY_EMAIL, CI_PROXY_PASSWORD   a user who can sign in
#   CI_PROXY_ACCESS_LOG gunicorn's access log (the unit's format)
set -euo pipefail
cd "$(dirname "$0")/.."
# free_port, template, throwaway_tls, nginx_example, nginx_run
source scripts/lib/proxy.sh
UPSTREAM="${CI_PROXY_UPSTREAM:?}"
HOST="${CI_PROXY_HOST:?}"
EMAIL="${CI_PROXY_EMAIL:?}"
PASSWORD="${CI_PROXY_PASSWORD:?}"
ACCESS_LOG="${CI_PROXY_ACCESS_LOG:?}"

T="$(mktemp -d "${TMPDIR:-/tmp}/fleetportal-proxies.XXXXXX")"
PROXY_PID=""
stop_proxy() {
  if [ -n "$PROXY_PID" ]; then
    kill -TERM "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=""
  fi
}
trap 'stop_proxy; rm -rf "$T"' EXIT

NAME=""
fail() {
  echo "ci_proxies: FAILED ($NAME): $*" >&2
  for log in "$T"/*.log; do
    [ -e "$log" ] || continue
    echo "----- $(basename "$log") (last 20 lines)" >&2
    tail -n 20 "$log" >&2
  done
  exit 1
}

HTTPS_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
ORIGIN="https://$HOST:$HTTPS_PORT"

echo "--- a throwaway CA and a certificate for $HOST"
throwaway_tls "$T" "$HOST" "DNS:$HOST" || fail "the throwaway CA and certificate"

CURL=(curl -sS --cacert "$T/ca.pem" --resolve "$HOST:$HTTPS_PORT:127.0.0.1"
  --resolve "$HOST:$HTTP_PORT:127.0.0.1" --max-time 20)

wait_ready() {
  for _ in $(seq 1 50); do
    kill -0 "$PROXY_PID" 2>/dev/null || fail "the proxy exited"
    if "${CURL[@]}" -o /dev/null "$ORIGIN/accounts/login/" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  fail "the proxy never answered on $ORIGIN"
}

check_proxy() {
  local status location jar="$T/$NAME-cookies" page="$T/$NAME-page.html" token headers

  status="$("${CURL[@]}" -o "$page" -w '%{http_code}' "$ORIGIN/accounts/login/")"
  [ "$status" = 200 ] || fail "the login page answered $status (Host or X-Forwarded-Proto lost?)"

  # Sign in and start linking a Tesla account, as the dashboard's form does.
  "${CURL[@]}" -c "$jar" -b "$jar" -o "$page" "$ORIGIN/accounts/login/"
  token="$(grep -o 'name="csrfmiddlewaretoken" value="[^"]*"' "$page" | head -n1 | cut -d'"' -f4)"
  [ -n "$token" ] || fail "no CSRF token on the login page"
  status="$("${CURL[@]}" -c "$jar" -b "$jar" -o "$page" -w '%{http_code}' \
    -H "Referer: $ORIGIN/accounts/login/" --data-urlencode "csrfmiddlewaretoken=$token" \
    --data-urlencode "login=$EMAIL" --data-urlencode "password=$PASSWORD" "$ORIGIN/accounts/login/")"
  [ "$status" = 302 ] || fail "signing in answered $status"
  token="$(awk '$6 == "csrftoken" {print $7}' "$jar")"
  location="$("${CURL[@]}" -c "$jar" -b "$jar" -o "$page" -w '%{redirect_url}' \
    -H "Referer: $ORIGIN/dashboard/" --data-urlencode "csrfmiddlewaretoken=$token" \
    "$ORIGIN/accounts/tesla/login/?process=connect")"
  case "$location" in
    *"redirect_uri=https%3A%2F%2F$HOST%3A$HTTPS_PORT%2Faccounts%2Ftesla%2Flogin%2Fcallback%2F"*) ;;
    *) fail "the OAuth redirect_uri is not built from https://$HOST:$HTTPS_PORT: ${location:-no redirect}" ;;
  esac

  # The public key: what Tesla fetches at registration (no redirect followed: curl without -L).
  headers="$("${CURL[@]}" -o "$T/$NAME-key.pem" -w '%{http_code} %{content_type} %{redirect_url}' \
    "$ORIGIN/.well-known/appspecific/com.tesla.3p.public-key.pem")"
  [ "$headers" = "200 application/x-pem-file " ] || fail "the public key URL answered '$headers'"
  grep -q -- "-----BEGIN PUBLIC KEY-----" "$T/$NAME-key.pem" || fail "the public key URL served no PEM key"

  status="$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$ORIGIN/healthz")"
  [ "$status" = 200 ] || fail "/healthz from 127.0.0.1 answered $status"
  status="$("${CURL[@]}" --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "$ORIGIN/healthz")"
  [ "$status" = 403 ] || fail "/healthz from 127.0.0.2 (outside) answered $status, not 403"

  # X-Forwarded-For: gunicorn's access log (the unit's format) starts with the header.
  local marker
  marker="/ci-proxy-xff-$NAME-$RANDOM"
  "${CURL[@]}" --interface 127.0.0.2 -H "X-Forwarded-For: 203.0.113.7" -o /dev/null "$ORIGIN$marker"
  for _ in $(seq 1 25); do
    grep -q "GET $marker " "$ACCESS_LOG" && break
    sleep 0.2
  done
  grep "GET $marker " "$ACCESS_LOG" | grep -Eq '(^|, )127\.0\.0\.2 \[' ||
    fail "the client address is not the last X-Forwarded-For entry: $(grep "GET $marker " "$ACCESS_LOG")"

  location="$("${CURL[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' \
    "http://$HOST:$HTTP_PORT/accounts/login/?next=/dashboard/")"
  case "$location" in
    "301 $ORIGIN/accounts/login/?next=/dashboard/" | "308 $ORIGIN/accounts/login/?next=/dashboard/") ;;
    *) fail "plain HTTP answered '$location', not a redirect to $ORIGIN" ;;
  esac
  echo "$NAME: OK (Host, X-Forwarded-Proto/For, OAuth redirect_uri, public key, /healthz inside only, HTTP->HTTPS)"
}

NAME=nginx
echo "--- nginx $(nginx -v 2>&1 | sed 's/.*\///') on https://$HOST:$HTTPS_PORT (deploy/nginx/fleetportal.conf)"
nginx_example "$T" "$HOST" "$UPSTREAM" "$HTTPS_PORT" "$HTTP_PORT" ||
  fail "nginx example: $(cat "$T/nginx-t.log" 2>/dev/null)"
nginx_run "$T" &
PROXY_PID=$!
wait_ready
check_proxy
stop_proxy

NAME=caddy
echo "--- $(caddy version | cut -d' ' -f1) on https://$HOST:$HTTPS_PORT (deploy/caddy/Caddyfile)"
mkdir -p "$T/caddy"
{
  # The site's own port (below), not https_port: Caddy leaves the port out of its HTTP->HTTPS
  # redirect when the site's port is https_port (a public 443 forwarded to it).
  printf '{\n\tadmin off\n\thttp_port %s\n\tdefault_bind 127.0.0.1\n' "$HTTP_PORT"
  printf '\tstorage file_system %s\n\tskip_install_trust\n}\n\n' "$T/caddy/data"
} >"$T/caddy/Caddyfile"
template deploy/caddy/Caddyfile "$T/caddy/site" \
  "# tls /etc/caddy/tls/fullchain.pem /etc/caddy/tls/privkey.pem" "tls $T/server-chain.pem $T/server-key.pem" \
  "portal.example.com {" "$HOST:$HTTPS_PORT {" \
  "reverse_proxy 127.0.0.1:8000" "reverse_proxy $UPSTREAM"
cat "$T/caddy/site" >>"$T/caddy/Caddyfile"
env -i PATH="$PATH" HOME="$T/caddy" XDG_DATA_HOME="$T/caddy/data" XDG_CONFIG_HOME="$T/caddy/config" \
  caddy validate --config "$T/caddy/Caddyfile" --adapter caddyfile >"$T/caddy-validate.log" 2>&1 ||
  fail "caddy validate"
env -i PATH="$PATH" HOME="$T/caddy" XDG_DATA_HOME="$T/caddy/data" XDG_CONFIG_HOME="$T/caddy/config" \
  caddy run --config "$T/caddy/Caddyfile" --adapter caddyfile --pidfile "$T/caddy/caddy.pid" \
  >"$T/caddy.log" 2>&1 &
PROXY_PID=$!
wait_ready
check_proxy
stop_proxy
echo "ci_proxies: OK (nginx and Caddy examples, ${SECONDS}s)"
