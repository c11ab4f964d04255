#!/usr/bin/env bash
# A private PostgreSQL server on 127.0.0.1 for Mileverse's tests and benchmarks.
#
#   bash scripts/pg.sh [start]        start (installing PostgreSQL if needed); prints nothing
#   eval "$(bash scripts/pg.sh env)"  start if needed, print `export MILEVERSE_TEST_DATABASE_URL=...`
#                                     and `export MILEVERSE_TEST_PG_CA=...`
#   bash scripts/pg.sh stop           stop the server (keeps its data)
#   source scripts/pg.sh              start and export both here
#
# It runs its OWN cluster, not Debian's default one: data in target/pg/data (data-PORT for
# another port; /tmp/mileverse-pg-PORT when the postgres user cannot reach target/), port
# 54329 (MILEVERSE_PG_PORT), listening on 127.0.0.1 only, fsync on (real durability),
# max_connections=200, a superuser role `mileverse` (password `mileverse`) and a database
# `mileverse`. TLS is on (`ssl = on`): a private CA and a server certificate for 127.0.0.1 and
# localhost, made with openssl in the data directory (ca.pem, server.pem, server.key; a
# cluster made before this gets them at its next start, and a running one is reloaded).
# MILEVERSE_TEST_PG_CA names ca.pem, for clients that verify the server (sslmode=require, or
# the default prefer, which uses TLS when offered); plain connections still work. Idempotent:
# a running server is left alone. Progress and errors go to stderr only when something
# fails; the server log is <data>.log.
#
# Environment: MILEVERSE_PG_PORT (default 54329), MILEVERSE_PG_DATA (data dir override),
# CARGO_TARGET_DIR (where target/ is).

_mileverse_pg_main() {
    set -euo pipefail

    local cmd="${1:-start}"
    local port="${MILEVERSE_PG_PORT:-54329}"
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local url="postgres://mileverse:mileverse@127.0.0.1:${port}/mileverse"

    case "$cmd" in
        start | env | stop) ;;
        *)
            echo "usage: scripts/pg.sh [start|env|stop]" >&2
            return 2
            ;;
    esac

    local is_root=0
    [[ "$(id -u)" == 0 ]] && is_root=1

    # Runs a command as the postgres user (initdb and postgres refuse to run as root).
    as_pg() {
        if [[ $is_root == 1 ]]; then
            runuser -u postgres -- "$@"
        else
            "$@"
        fi
    }

    # --- binaries -------------------------------------------------------------------------
    local bindir
    find_bindir() {
        local d
        bindir=""
        for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
            [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && bindir="$d"
        done
    }
    find_bindir
    if [[ -z "$bindir" ]]; then
        if [[ "$cmd" == stop ]]; then
            return 0
        fi
        if [[ $is_root != 1 ]]; then
            echo "scripts/pg.sh: PostgreSQL is not installed; run as root (apt-get install postgresql)" >&2
            return 1
        fi
        local aptlog
        aptlog="$(mktemp /tmp/mileverse-pg-apt.XXXXXX)"
        if ! {
            DEBIAN_FRONTEND=noninteractive apt-get update &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
                    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
                    postgresql
        } >"$aptlog" 2>&1; then
            echo "scripts/pg.sh: installing postgresql failed; log:" >&2
            tail -n 30 "$aptlog" >&2
            return 1
        fi
        rm -f "$aptlog"
        find_bindir
        if [[ -z "$bindir" ]]; then
            echo "scripts/pg.sh: postgresql installed but no /usr/lib/postgresql/*/bin/initdb" >&2
            return 1
        fi
    fi

    # --- where the cluster lives -----------------------------------------------------------
    local data
    if [[ -n "${MILEVERSE_PG_DATA:-}" ]]; then
        data="$MILEVERSE_PG_DATA"
    else
        local target="${CARGO_TARGET_DIR:-$root/target}"
        case "$target" in /*) ;; *) target="$root/$target" ;; esac
        # One cluster per port: target/pg/data for the default one, target/pg/data-PORT else.
        local name="data"
        [[ "$port" != 54329 ]] && name="data-${port}"
        data="/tmp/mileverse-pg-${port}"
        if [[ $is_root == 1 ]]; then
            # The postgres user must be able to walk down to target/pg (not so under /root).
            if mkdir -p "$target/pg" 2>/dev/null &&
                chown postgres: "$target/pg" 2>/dev/null &&
                chmod 700 "$target/pg" &&
                runuser -u postgres -- test -w "$target/pg" 2>/dev/null; then
                data="$target/pg/$name"
            fi
        elif mkdir -p "$target/pg" 2>/dev/null; then
            data="$target/pg/$name"
        fi
    fi
    local log="${data%/}.log"

    running() {
        [[ -f "$data/PG_VERSION" ]] && as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
    }

    if [[ "$cmd" == stop ]]; then
        if running; then
            as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
        fi
        return 0
    fi

    # --- initdb once -----------------------------------------------------------------------
    if [[ ! -f "$data/PG_VERSION" ]]; then
        mkdir -p "$data"
        [[ $is_root == 1 ]] && chown postgres: "$data"
        chmod 700 "$data"
        local initlog
        initlog="$(mktemp /tmp/mileverse-pg-initdb.XXXXXX)"
        [[ $is_root == 1 ]] && chown postgres: "$initlog"
        if ! as_pg "$bindir/initdb" -D "$data" -U postgres -E UTF8 --no-locale \
            --auth-local=trust --auth-host=scram-sha-256 >"$initlog" 2>&1; then
            echo "scripts/pg.sh: initdb failed:" >&2
            cat "$initlog" >&2
            return 1
        fi
        rm -f "$initlog"
        # Later settings win: these override the defaults initdb wrote.
        cat >>"$data/postgresql.conf" <<EOF

# --- Mileverse test server (scripts/pg.sh) ---
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '/tmp'
max_connections = 200
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 256MB
max_wal_size = 2GB
checkpoint_timeout = 15min
logging_collector = off
EOF
        cat >"$data/pg_hba.conf" <<EOF
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  scram-sha-256
EOF
        [[ $is_root == 1 ]] && chown postgres: "$data/postgresql.conf" "$data/pg_hba.conf"
    fi

    # --- TLS: a private CA and a server certificate, once --------------------------------
    local tls_changed=0
    make_certificates() {
        local dir="$1" log
        # Debian's postgresql pulls in openssl (through ssl-cert); a machine that had
        # PostgreSQL without it gets it here.
        if ! command -v openssl >/dev/null 2>&1 && [[ $is_root == 1 ]]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssl \
                >/dev/null 2>&1 || true
        fi
        log="$(mktemp /tmp/mileverse-pg-openssl.XXXXXX)"
        if ! {
            openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
                -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 3650 \
                -subj "/CN=Mileverse test PostgreSQL CA" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign" &&
                openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
                    -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=127.0.0.1" &&
                openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
                    -set_serial "0x$(openssl rand -hex 8)" -days 3650 -out "$dir/server.pem" \
                    -extfile <(printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
                        "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
                        "extendedKeyUsage=serverAuth")
        } >"$log" 2>&1; then
            echo "scripts/pg.sh: making the TLS certificates failed:" >&2
            cat "$log" >&2
            rm -f "$log"
            return 1
        fi
        rm -f "$log" "$dir/server.csr"
        # PostgreSQL refuses a key others can read.
        chmod 600 "$dir/ca.key" "$dir/server.key"
        chmod 644 "$dir/ca.pem" "$dir/server.pem"
        if [[ $is_root == 1 ]]; then
            chown postgres: "$dir/ca.key" "$dir/ca.pem" "$dir/server.key" "$dir/server.pem"
        fi
    }
    if [[ ! -f "$data/server.pem" || ! -f "$data/server.key" || ! -f "$data/ca.pem" ]]; then
        make_certificates "$data" || return 1
        tls_changed=1
    fi
    if ! grep -q "^ssl = on" "$data/postgresql.conf"; then
        cat >>"$data/postgresql.conf" <<EOF

# --- TLS (scripts/pg.sh): certificates in this directory, signed by ca.pem ---
ssl = on
ssl_cert_file = 'server.pem'
ssl_key_file = 'server.key'
EOF
        tls_changed=1
    fi

    # --- start -----------------------------------------------------------------------------
    if ! running && PGPASSWORD=mileverse "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" \
        -U mileverse -d mileverse -tAc "SELECT 1" >/dev/null 2>&1; then
        # Another checkout's Mileverse test server already serves this port: share it (every
        # test and benchmark works in a schema of its own), and its CA if it has TLS on.
        if [[ "$cmd" == env ]]; then
            echo "export MILEVERSE_TEST_DATABASE_URL=${url}"
            local other
            other="$(PGPASSWORD=mileverse "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U mileverse \
                -d mileverse -tAc "SELECT setting FROM pg_settings WHERE name = 'data_directory'
                    AND current_setting('ssl') = 'on'" 2>/dev/null || true)"
            if [[ -n "$other" && -r "$other/ca.pem" ]]; then
                echo "export MILEVERSE_TEST_PG_CA=$(printf '%q' "$other/ca.pem")"
            fi
        fi
        return 0
    fi
    if running && [[ $tls_changed == 1 ]]; then
        # A server started before its certificates were made: TLS settings take a reload.
        as_pg "$bindir/pg_ctl" -D "$data" reload >/dev/null
    fi
    if ! running; then
        touch "$log"
        [[ $is_root == 1 ]] && chown postgres: "$log"
        if ! as_pg "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 120 start >/dev/null 2>&1; then
            echo "scripts/pg.sh: the server did not start; tail of $log:" >&2
            tail -n 30 "$log" >&2
            return 1
        fi
    fi

    # --- role and database (idempotent) ----------------------------------------------------
    psql_su() {
        as_pg "$bindir/psql" -X -q -h /tmp -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -tA "$@"
    }
    if [[ "$(psql_su -c "SELECT 1 FROM pg_roles WHERE rolname = 'mileverse'")" != 1 ]]; then
        psql_su -c "CREATE ROLE mileverse LOGIN SUPERUSER PASSWORD 'mileverse'" >/dev/null
    fi
    if [[ "$(psql_su -c "SELECT 1 FROM pg_database WHERE datname = 'mileverse'")" != 1 ]]; then
        psql_su -c "CREATE DATABASE mileverse OWNER mileverse" >/dev/null
    fi

    if [[ "$cmd" == env ]]; then
        echo "export MILEVERSE_TEST_DATABASE_URL=${url}"
        echo "export MILEVERSE_TEST_PG_CA=$(printf '%q' "$data/ca.pem")"
    fi
    return 0
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: start in a subshell (so `set -e` and failures stay there), then export what
    # `env` prints.
    if _mileverse_pg_env="$(_mileverse_pg_main env)"; then
        eval "$_mileverse_pg_env"
    fi
    unset _mileverse_pg_env
    unset -f _mileverse_pg_main
else
    _mileverse_pg_main "$@"
fi
