#!/usr/bin/env bash
# Installs the extension's npm packages (exact versions from package-lock.json) and bundles the
# extension into dist/extension.js. `npm ci` runs only when the lock file changed since the last
# install, so a second `make test` skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.flowspin-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund --silent
  echo "$want" > "$stamp"
fi
npm run --silent build
