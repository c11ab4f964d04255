#!/usr/bin/env bash
# Installs the contracts' toolchain from the npm registry (solc-js, OpenZeppelin 5, and
# anvil, Foundry's Ethereum dev node, which ships its binary in the package), at the
# versions pinned in contracts/package-lock.json. Node.js and npm come from the machine;
# if they are missing, Debian's packages are installed.
set -euo pipefail
cd "$(dirname "$0")/../contracts"

if ! command -v npm >/dev/null 2>&1; then
  sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if_needed apt-get update -q
  sudo_if_needed apt-get install -y -q nodejs npm
fi

if [ ! -x node_modules/.bin/anvil ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm ci` refuses this lock file: npm records only this platform's optional anvil binary.
  npm install --no-audit --no-fund --loglevel=error
fi
node_modules/.bin/anvil --version | head -1
