#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs and starts what the tests
# need (a PostgreSQL server on 127.0.0.1 from Debian's packages; solc-js, OpenZeppelin and
# anvil from the npm registry; Schemathesis from PyPI into target/schemathesis-venv;
# Debian's Chromium with Korean fonts, and playwright-core and axe-core from the npm
# registry into e2e/node_modules), then runs the suite, Schemathesis against /openapi.json
# on a running server, the README's journeys as written, and the browser tests (e2e/,
# screenshots in target/web-screenshots). It leaves the PostgreSQL server running
# (`bash scripts/pg.sh stop` stops it); every server the later steps start, they stop.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/pg.sh start
bash scripts/contracts.sh
eval "$(bash scripts/pg.sh env)"
export MILEVERSE_TEST_DATABASE_URL

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  # The platform's suites again, on PostgreSQL (the run above keeps them on SQLite). Built
  # as part of the workspace (a filter, not `-p`), so the dependencies keep the features the
  # run above built them with and nothing is compiled twice.
  MILEVERSE_TEST_PLATFORM_BACKEND=postgres cargo nextest run --workspace --no-fail-fast \
    -E 'package(platform)'
else
  cargo test --workspace --no-fail-fast
  MILEVERSE_TEST_PLATFORM_BACKEND=postgres cargo test -p platform --no-fail-fast
fi

# The HTTP contract (issue 13): Schemathesis against the served /openapi.json; no 5xx and no
# answer outside the document. The binary is the one the CLI's tests were built with.
SCHEMATHESIS_VERSION=4.32.5
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/st" ]; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv"; then
    # Debian's own Python keeps venv in a package of its own.
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -q python3-venv; else sudo apt-get install -y -q python3-venv; fi
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
SCHEMATHESIS="$venv/bin/st" python3 scripts/schemathesis.py target/debug/mileverse

# The README's journeys, pasted as a newcomer would (curl and python3 in one bash).
debian_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@"
}
if ! command -v curl >/dev/null 2>&1; then debian_install curl; fi
python3 scripts/readme_journeys.py target/debug/mileverse

# The web app in a real browser (issue 14): Debian's Chromium driven by playwright-core,
# against `mileverse serve --demo` started by each test file.
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  debian_install chromium fonts-noto-cjk
fi
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
MILEVERSE_BIN="$PWD/target/debug/mileverse" npm --prefix e2e test
