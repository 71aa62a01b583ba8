# Shared by scripts/ci_proxies.sh and scripts/rehearse.sh (sourced, not run): a throwaway CA and
# server certificate, free ports, and the nginx example (deploy/nginx/fleetportal.conf) made
# runnable in a temporary folder with only its host name, ports, certificate paths and upstream
# substituted (each substitution must match: an edited example fails here, rather than being
# run in a different shape). Functions return non-zero on failure; the caller says what failed.

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Literal replacements, each of which must occur: template FILE OUT OLD NEW [OLD NEW]...
template() {
  python3 - "$@" <<'PY'
import sys

source, target, *pairs = sys.argv[1:]
text = open(source).read()
for old, new in zip(pairs[::2], pairs[1::2]):
    if old not in text:
        sys.exit(f"{source} no longer contains {old!r}")
    text = text.replace(old, new)
open(target, "w").write(text)
PY
}

# throwaway_tls DIR CN SAN... (SAN: DNS:name or IP:address): writes DIR/ca.pem (the CA to
# trust; its key stays in DIR), DIR/server-key.pem, DIR/server.pem and DIR/server-chain.pem
# (certificate then CA), valid 2 days; openssl's messages go to DIR/openssl.log.
throwaway_tls() {
  local dir="$1" cn="$2" sans
  shift 2
  sans="$(IFS=,; echo "$*")"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Fleet Portal throwaway CA" -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    2>"$dir/openssl.log" || return 1
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$dir/server-key.pem" -out "$dir/server.csr" 2>>"$dir/openssl.log" || return 1
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$sans" \
    >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
    -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" \
    2>>"$dir/openssl.log" || return 1
  cat "$dir/server.pem" "$dir/ca.pem" >"$dir/server-chain.pem"
}

# nginx_example DIR HOST UPSTREAM HTTPS_PORT HTTP_PORT: DIR/nginx/nginx.conf runs the example
# for HOST on 127.0.0.1 (HTTPS_PORT, and HTTP_PORT redirecting to it) in front of UPSTREAM
# (host:port), with DIR/server-chain.pem and DIR/server-key.pem (throwaway_tls); logs in DIR
# (nginx-error.log, nginx-access.log). Start it with nginx_run DIR (foreground: add &).
nginx_example() {
  local dir="$1" host="$2" upstream="$3" https_port="$4" http_port="$5"
  mkdir -p "$dir/nginx"
  chmod 755 "$dir" "$dir/nginx"
  template deploy/nginx/fleetportal.conf "$dir/nginx/fleetportal.conf" \
    "/etc/letsencrypt/live/portal.example.com/fullchain.pem" "$dir/server-chain.pem" \
    "/etc/letsencrypt/live/portal.example.com/privkey.pem" "$dir/server-key.pem" \
    "portal.example.com" "$host" \
    "server 127.0.0.1:8000;" "server $upstream;" \
    "listen 80;" "listen 127.0.0.1:$http_port;" \
    "listen [::]:80;" "" \
    "listen 443 ssl http2;" "listen 127.0.0.1:$https_port ssl http2;" \
    "listen [::]:443 ssl http2;" "" \
    'https://$host$request_uri' "https://\$host:$https_port\$request_uri" || return 1
  cat >"$dir/nginx/nginx.conf" <<NGINX
daemon off;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx-error.log;
events {}
http {
    include /etc/nginx/mime.types;
    access_log $dir/nginx-access.log;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    include $dir/nginx/fleetportal.conf;
}
NGINX
  nginx -t -q -c "$dir/nginx/nginx.conf" -e "$dir/nginx-error.log" 2>"$dir/nginx-t.log"
}

nginx_run() {
  exec nginx -c "$1/nginx/nginx.conf" -e "$1/nginx-error.log" >"$1/nginx-stdout.log" 2>&1
}
