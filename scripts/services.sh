# Start (or install) the real services the tests talk to. Sourced by scripts/test.
# A service that cannot be started makes the suite fail loudly: tests are never skipped.

_apt_install() {
  echo "==> installing $* from Debian packages"
  if [ "$(id -u)" -ne 0 ]; then echo "need root to apt-get install $*" >&2; return 1; fi
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then _apt_install postgresql; fi
  echo "==> starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "FATAL: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1
  fi
}

# PostGIS for the geo-query tests that ask for it (tests/ngsild/test_geo_postgis.py), from the Debian package
# matching the running PostgreSQL's major version. The extension is created only in those tests' databases.
ensure_postgis() {
  local available major
  available=$(psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'" 2>/dev/null || true)
  if [ "$available" = "1" ]; then return 0; fi
  major=$(psql -h 127.0.0.1 -U postgres -d postgres -Atc "SHOW server_version_num" | cut -c1-2)
  _apt_install "postgresql-${major}-postgis-3"
  available=$(psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'" 2>/dev/null || true)
  if [ "$available" != "1" ]; then
    echo "FATAL: the postgis extension is not available to PostgreSQL ${major}" >&2; exit 1
  fi
}

_mqtt_up() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }

ensure_mosquitto() {
  if _mqtt_up; then return 0; fi
  if ! command -v mosquitto >/dev/null 2>&1; then _apt_install mosquitto; fi
  echo "==> starting Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
  for _ in $(seq 1 20); do _mqtt_up && break; sleep 0.5; done
  if ! _mqtt_up; then echo "FATAL: Mosquitto is not reachable on 127.0.0.1:1883" >&2; exit 1; fi
}

# The browser tests (tests/web) drive Debian's Chromium with Playwright (../shared/BROWSER-TESTING.md);
# Playwright's own browser download is never used (it needs the internet).
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then return 0; fi
  _apt_install chromium
  if ! command -v chromium >/dev/null 2>&1; then echo "FATAL: chromium could not be installed" >&2; exit 1; fi
}
