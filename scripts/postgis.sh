#!/usr/bin/env bash
# Make the PostGIS test server ready; idempotent, so it can run before every test run.
#
# Target: WHISTLE_TEST_POSTGIS_URL (default postgresql://postgres@127.0.0.1:5432/whistle_test).
# For a local server on Debian, run as root, it:
#   1. installs postgresql-<V>-postgis-3 with apt-get if the postgis extension is missing
#      (V: the installed cluster's version from /etc/postgresql, else PG_VERSION, default 15);
#   2. starts the cluster listening on the URL's port if it is not running;
#   3. waits until it accepts connections (pg_isready);
#   4. creates the test database if missing and the postgis extension in it;
#   5. if the URL's user cannot log in over TCP without a password (Debian's default
#      pg_hba.conf asks for one), trusts that user on loopback for the test database only.
# Without root it checks the same things and says what to run for anything missing.
# For a remote server it only checks the connection and creates the extension.
set -euo pipefail

URL="${WHISTLE_TEST_POSTGIS_URL:-postgresql://postgres@127.0.0.1:5432/whistle_test}"
WAIT_S="${PG_WAIT_S:-30}"
HBA_MARK="# whistle test database (scripts/postgis.sh)"

say() { echo "postgis.sh: $*"; }
die() { echo "postgis.sh: error: $*" >&2; exit 1; }

# postgresql://[user[:password]@]host[:port]/dbname[?params]
re='^postgres(ql)?://(([^:@/]*)(:([^@/]*))?@)?([^:/?]*)(:([0-9]+))?/([^?]*)'
[[ $URL =~ $re ]] || die "cannot parse WHISTLE_TEST_POSTGIS_URL (expected postgresql://user@host:port/db)"
DB_USER="${BASH_REMATCH[3]:-postgres}"
DB_PASSWORD="${BASH_REMATCH[5]:-}"
HOST="${BASH_REMATCH[6]:-127.0.0.1}"
PORT="${BASH_REMATCH[8]:-5432}"
DB="${BASH_REMATCH[9]:-whistle_test}"
SHOWN="postgresql://${DB_USER}@${HOST}:${PORT}/${DB}"

IS_ROOT=0; [[ $(id -u) -eq 0 ]] && IS_ROOT=1
LOCAL=0; [[ $HOST == 127.0.0.1 || $HOST == localhost || $HOST == "::1" ]] && LOCAL=1

pg_version() {
    local d v=""
    for d in /etc/postgresql/*/; do
        d=${d%/}; d=${d##*/}
        [[ $d =~ ^[0-9]+$ ]] && (( d > ${v:-0} )) && v=$d
    done
    echo "${v:-${PG_VERSION:-15}}"
}

# psql as a superuser: the postgres OS user over the local socket when we are root on the
# server's machine (peer auth, works on a fresh install), else the URL's user over TCP.
admin_psql() {
    if [[ $LOCAL -eq 1 && $IS_ROOT -eq 1 ]] && id postgres >/dev/null 2>&1; then
        runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" "$@"
    else
        PGPASSWORD="$DB_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" \
            -U "$DB_USER" "$@"
    fi
}

# -- 1. the postgis extension is installed ----------------------------------------------------
if [[ $LOCAL -eq 1 ]]; then
    V=$(pg_version)
    if [[ -f /usr/share/postgresql/$V/extension/postgis.control ]]; then
        say "postgis extension for PostgreSQL $V: already installed"
    elif [[ $IS_ROOT -eq 1 ]]; then
        command -v apt-get >/dev/null || die "postgis is missing and apt-get is not available; install PostGIS for PostgreSQL $V"
        say "installing postgresql-$V-postgis-3 with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q || die "apt-get update failed"
        apt-get install -y -q "postgresql-$V-postgis-3" || die "apt-get install postgresql-$V-postgis-3 failed"
        V=$(pg_version)
        [[ -f /usr/share/postgresql/$V/extension/postgis.control ]] \
            || die "installed postgresql-$V-postgis-3 but the postgis extension is still missing"
        say "installed postgresql-$V-postgis-3"
    else
        die "the postgis extension is not installed; as root run:
    apt-get update && apt-get install -y postgresql-$V-postgis-3
  or run this script as root (sudo bash scripts/postgis.sh)"
    fi
fi

if ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null; then
    die "pg_isready/psql not found; install postgresql-client (apt-get install -y postgresql-client)"
fi

# -- 2./3. the server is running and accepts connections ---------------------------------------
if pg_isready -q -h "$HOST" -p "$PORT"; then
    say "server on $HOST:$PORT: already accepting connections"
else
    [[ $LOCAL -eq 1 ]] || die "no PostgreSQL server accepts connections at $HOST:$PORT"
    # The cluster configured for this port, e.g. "15 main".
    read -r CV CNAME < <(pg_lsclusters -h 2>/dev/null | awk -v p="$PORT" '$3 == p {print $1, $2; exit}') || true
    if [[ -z ${CV:-} ]]; then
        V=$(pg_version)
        die "no PostgreSQL cluster is configured on port $PORT; as root run:
    pg_createcluster $V main --port $PORT --start"
    fi
    if [[ $IS_ROOT -ne 1 ]]; then
        die "PostgreSQL cluster $CV/$CNAME is not running; as root run:
    pg_ctlcluster --skip-systemctl-redirect $CV $CNAME start"
    fi
    say "starting PostgreSQL cluster $CV/$CNAME"
    pg_ctlcluster --skip-systemctl-redirect "$CV" "$CNAME" start \
        || die "pg_ctlcluster could not start $CV/$CNAME; see /var/log/postgresql/postgresql-$CV-$CNAME.log"
    for ((i = 0; i < WAIT_S; i++)); do
        pg_isready -q -h "$HOST" -p "$PORT" && break
        sleep 1
    done
    pg_isready -q -h "$HOST" -p "$PORT" || die "cluster $CV/$CNAME started but $HOST:$PORT did not accept connections within ${WAIT_S}s"
    say "started PostgreSQL cluster $CV/$CNAME; $HOST:$PORT accepts connections"
fi

# -- 4. the test database and the extension in it ----------------------------------------------
exists=$(echo "SELECT 1 FROM pg_database WHERE datname = :'db'" \
    | admin_psql -At -d postgres -v db="$DB") || die "cannot query $HOST:$PORT as a superuser"
if [[ $exists == 1 ]]; then
    say "database $DB: already exists"
else
    echo 'CREATE DATABASE :"db"' | admin_psql -d postgres -v db="$DB" \
        || die "could not create database $DB"
    say "created database $DB"
fi
echo "CREATE EXTENSION IF NOT EXISTS postgis" | admin_psql -d "$DB" 2>&1 | grep -v 'already exists, skipping' || true
version=$(echo "SELECT extversion FROM pg_extension WHERE extname = 'postgis'" | admin_psql -At -d "$DB") \
    || die "could not query extensions in $DB"
[[ -n $version ]] || die "could not create the postgis extension in $DB"
say "postgis $version is enabled in $DB"

# -- 5. the tests can log in as the URL says ---------------------------------------------------
check() { PGPASSWORD="$DB_PASSWORD" PGCONNECT_TIMEOUT=5 psql -X -At -h "$HOST" -p "$PORT" -U "$DB_USER" -d "$DB" -c "SELECT postgis_lib_version()" 2>&1; }
if out=$(check); then
    say "ready: $SHOWN (PostGIS $out)"
    exit 0
fi
if [[ $LOCAL -eq 1 && $IS_ROOT -eq 1 ]] \
    && [[ $out == *"authentication"* || $out == *"no password supplied"* ]]; then
    hba=$(echo "SHOW hba_file" | admin_psql -At -d postgres) || die "cannot find pg_hba.conf"
    if ! grep -qF "$HBA_MARK" "$hba"; then
        tmp=$(mktemp)
        {
            echo "$HBA_MARK"
            printf 'host %s %s 127.0.0.1/32 trust\n' "$DB" "$DB_USER"
            printf 'host %s %s ::1/128 trust\n' "$DB" "$DB_USER"
            cat "$hba"
        } >"$tmp"
        cat "$tmp" >"$hba" && rm -f "$tmp"
        echo "SELECT pg_reload_conf()" | admin_psql -At -d postgres >/dev/null
        say "trusted $DB_USER on loopback for database $DB in $hba (test server only)"
    fi
    out=$(check) || die "cannot log in as $SHOWN: $out"
    say "ready: $SHOWN (PostGIS $out)"
    exit 0
fi
die "cannot log in as $SHOWN: $out"
