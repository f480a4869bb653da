#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 as user postgres without a password
# (trust auth), then create the database named by $1 (default digione_test) if absent.
#
# In order: use a server that already answers; else install PostgreSQL if it is missing
# (apt-get, as root); start the Debian cluster on port 5432 if there is one; else start a
# throwaway cluster under ./var/pgtest (initdb, trust auth, TCP on 127.0.0.1 only).
#
#   scripts/ensure-postgres.sh [DBNAME]    ensure the server and the database
#   scripts/ensure-postgres.sh --stop      stop the throwaway cluster, if it runs
#
# Environment: DIGIONE_PGTEST_DIR (default <repo>/var/pgtest) moves the throwaway cluster.
set -euo pipefail

readonly HOST=127.0.0.1
readonly PORT=5432
readonly SUPERUSER=postgres
readonly WAIT_SECONDS=30
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly PGTEST_DIR="${DIGIONE_PGTEST_DIR:-$REPO_ROOT/var/pgtest}"
# postgresql-common reads the same variable, so pg_lsclusters and this script agree.
readonly CLUSTER_CONF_ROOT="${PG_CLUSTER_CONF_ROOT:-/etc/postgresql}"

say() { echo "ensure-postgres: $*"; }

fail() {
    echo "ensure-postgres: FAILED: $1" >&2
    shift
    local hint
    for hint in "$@"; do echo "ensure-postgres:   $hint" >&2; done
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Debian keeps initdb, pg_ctl and postgres out of PATH, under /usr/lib/postgresql/<v>/bin.
server_bindir() {
    local dir
    if command -v postgres >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v postgres)")"
        return 0
    fi
    for dir in $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V -r); do
        if [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

server_answers() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -h "$HOST" -p "$PORT" -q
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

wait_for_server() {
    local waited=0
    until server_answers; do
        if [ "$waited" -ge "$WAIT_SECONDS" ]; then
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

as_root() {
    if is_root; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        fail "this step needs root: $*" \
            "run 'make test' as root, or start PostgreSQL on $HOST:$PORT yourself" \
            "(user $SUPERUSER, trust auth) and run it again"
    fi
}

install_packages() {
    say "installing $* with apt-get (this takes a minute)"
    command -v apt-get >/dev/null 2>&1 ||
        fail "PostgreSQL is not installed and this system has no apt-get" \
            "install PostgreSQL 14 or newer with your package manager and run again"
    as_root apt-get update -qq ||
        fail "apt-get update failed" "check network access to the Debian mirrors"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
        fail "apt-get install $* failed" "see the apt-get output above"
}

# Prints "<version> <cluster>" of the Debian cluster configured for port 5432, if any.
debian_cluster() {
    local conf version cluster port
    for conf in $(printf "%s\n" "$CLUSTER_CONF_ROOT"/*/*/postgresql.conf | sort -V); do
        [ -f "$conf" ] || continue
        cluster="$(basename "$(dirname "$conf")")"
        version="$(basename "$(dirname "$(dirname "$conf")")")"
        port="$(sed -n 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$conf" |
            tail -1)"
        if [ "${port:-5432}" = "$PORT" ] && [ -x "/usr/lib/postgresql/$version/bin/postgres" ]; then
            echo "$version $cluster"
            return 0
        fi
    done
    return 1
}

# A freshly installed Debian cluster asks for passwords over TCP; tests log in without.
trust_local_superuser() {
    local hba="$CLUSTER_CONF_ROOT/$1/$2/pg_hba.conf"
    local rule="host all $SUPERUSER $HOST/32 trust"
    if ! grep -q "^$rule" "$hba"; then
        say "allowing $SUPERUSER to log in from $HOST without a password ($hba)"
        as_root sed -i "1i $rule  # added by scripts/ensure-postgres.sh for tests" "$hba"
    fi
}

start_debian_cluster() {
    local version="$1" cluster="$2"
    say "starting PostgreSQL cluster $version/$cluster"
    local run_as=as_root
    # The cluster's owner (usually the postgres user) may start it without root.
    if [ -O "$CLUSTER_CONF_ROOT/$version/$cluster/postgresql.conf" ]; then run_as=; fi
    $run_as pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start ||
        say "pg_ctlcluster returned an error; waiting for the server anyway"
    if ! wait_for_server; then
        tail -n 20 "/var/log/postgresql/postgresql-$version-$cluster.log" 2>/dev/null >&2 || true
        fail "cluster $version/$cluster did not answer on $HOST:$PORT within ${WAIT_SECONDS}s" \
            "see /var/log/postgresql/postgresql-$version-$cluster.log (tail above)" \
            "check 'pg_lsclusters' and listen_addresses/port in $CLUSTER_CONF_ROOT/$version/$cluster/postgresql.conf"
    fi
}

# Runs a command as the operating-system user who owns the throwaway cluster.
as_owner() {
    if is_root; then
        runuser -u "$SUPERUSER" -- "$@"
    else
        "$@"
    fi
}

start_throwaway_cluster() {
    local bindir="$1"
    local data="$PGTEST_DIR/data"
    if is_root; then
        # initdb refuses to run as root; the cluster belongs to the postgres OS user.
        getent passwd "$SUPERUSER" >/dev/null ||
            useradd --system --no-create-home --shell /usr/sbin/nologin "$SUPERUSER"
        mkdir -p "$PGTEST_DIR"
        chown "$SUPERUSER" "$PGTEST_DIR"
    else
        mkdir -p "$PGTEST_DIR"
    fi
    as_owner test -w "$PGTEST_DIR" ||
        fail "the $SUPERUSER user cannot write to $PGTEST_DIR (a parent directory is closed to it)" \
            "set DIGIONE_PGTEST_DIR to a directory it can reach, e.g. /tmp/digione-pgtest"
    if [ ! -f "$data/PG_VERSION" ]; then
        say "creating a throwaway cluster in $data"
        as_owner "$bindir/initdb" --pgdata="$data" --username="$SUPERUSER" --auth=trust \
            --encoding=UTF8 --no-locale >"$PGTEST_DIR/initdb.log" 2>&1 || {
            tail -n 20 "$PGTEST_DIR/initdb.log" >&2
            fail "initdb failed" "see $PGTEST_DIR/initdb.log (tail above)"
        }
    fi
    say "starting the throwaway cluster in $data"
    # TCP on 127.0.0.1 only and no Unix socket, so no system directory is needed.
    as_owner "$bindir/pg_ctl" --pgdata="$data" --log="$PGTEST_DIR/postgres.log" \
        --wait --timeout="$WAIT_SECONDS" \
        -o "-c listen_addresses=$HOST -c port=$PORT -c unix_socket_directories=''" \
        start >/dev/null || {
        tail -n 20 "$PGTEST_DIR/postgres.log" >&2 || true
        fail "the throwaway cluster did not start" "see $PGTEST_DIR/postgres.log (tail above)" \
            "is another program using port $PORT? (ss -ltnp 'sport = :$PORT')"
    }
    wait_for_server ||
        fail "the throwaway cluster started but does not answer on $HOST:$PORT" \
            "see $PGTEST_DIR/postgres.log"
}

stop_throwaway_cluster() {
    local data="$PGTEST_DIR/data" bindir
    if [ ! -f "$data/postmaster.pid" ]; then
        return 0
    fi
    bindir="$(server_bindir)" || fail "cannot find pg_ctl to stop the cluster in $data"
    say "stopping the throwaway cluster in $data"
    as_owner "$bindir/pg_ctl" --pgdata="$data" --mode=fast stop >/dev/null
}

start_server() {
    local bindir installed=no version cluster
    if ! bindir="$(server_bindir)"; then
        install_packages postgresql
        installed=yes
        bindir="$(server_bindir)" || fail "apt-get installed postgresql but no server binaries were found"
    fi
    if read -r version cluster < <(debian_cluster); then
        if [ "$installed" = yes ]; then
            trust_local_superuser "$version" "$cluster"
            # The package may have started the cluster before the rule above existed.
            as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" reload \
                >/dev/null 2>&1 || true
        fi
        server_answers || start_debian_cluster "$version" "$cluster"
    else
        start_throwaway_cluster "$bindir"
    fi
}

check_login() {
    local output
    if ! output="$(psql -h "$HOST" -p "$PORT" -U "$SUPERUSER" -d postgres -w -tAc 'SELECT 1' 2>&1)"; then
        fail "PostgreSQL answers on $HOST:$PORT but user $SUPERUSER cannot log in: $output" \
            "the tests log in as $SUPERUSER without a password; put this line first in" \
            "pg_hba.conf (psql -c 'SHOW hba_file' finds it) and reload the server:" \
            "  host all $SUPERUSER $HOST/32 trust"
    fi
}

ensure_database() {
    local name="$1" exists
    exists="$(psql -h "$HOST" -p "$PORT" -U "$SUPERUSER" -d postgres -w -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$name'")"
    if [ "$exists" = 1 ]; then
        say "database $name exists"
    elif createdb -h "$HOST" -p "$PORT" -U "$SUPERUSER" -w "$name"; then
        say "created database $name"
    else
        fail "could not create database $name" "see the createdb error above"
    fi
}

main() {
    if [ "${1:-}" = --stop ]; then
        stop_throwaway_cluster
        return 0
    fi
    local database="${1:-digione_test}"
    [[ "$database" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] ||
        fail "database name '$database' is not a plain identifier" "use letters, digits and _"

    local bindir
    # Put the real client programs first; Debian's wrappers may be all that PATH has.
    if bindir="$(server_bindir)"; then PATH="$bindir:$PATH"; fi

    if server_answers; then
        say "PostgreSQL answers on $HOST:$PORT"
    else
        if ! command -v pg_isready >/dev/null 2>&1 && port_open; then
            # A server we cannot see (a CI service container); only the clients are missing.
            install_packages postgresql-client
        else
            start_server
        fi
        if bindir="$(server_bindir)"; then PATH="$bindir:$PATH"; fi
        wait_for_server ||
            fail "nothing answers on $HOST:$PORT" "run 'pg_isready -h $HOST -p $PORT' to see why"
        say "PostgreSQL answers on $HOST:$PORT"
    fi
    check_login
    ensure_database "$database"
}

main "$@"
