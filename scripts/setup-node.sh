#!/usr/bin/env bash
# Installs the extension's npm packages and bundles it (skipped when package.json has no deps yet).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --silent; else npm install --no-audit --no-fund --silent; fi
if node -e 'process.exit(require("./package.json").scripts?.build ? 0 : 1)'; then npm run --silent build; fi
