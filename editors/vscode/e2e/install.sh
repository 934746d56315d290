#!/usr/bin/env bash
# Installs code-server and playwright-core for the end-to-end test, without network access
# beyond the npm registry and Debian.
#
# code-server's postinstall builds VS Code's native modules (node-gyp) and runs the postinstall
# of @vscode/ripgrep, which downloads a ripgrep binary from GitHub. That download is replaced by
# a tarball of Debian's `rg`, put where @vscode/ripgrep looks for its download cache.
#
# Needs: Node 20 with its headers (/usr/include/node), a C++ toolchain, python3, pkg-config,
# libkrb5-dev, libxkbfile-dev, libsecret-1-dev, ripgrep; chromium to run the test. On Debian:
#   apt-get install -y build-essential python3 pkg-config libkrb5-dev libxkbfile-dev \
#     libsecret-1-dev ripgrep chromium
set -euo pipefail
cd "$(dirname "$0")"

RIPGREP_PACKAGE_VERSION=1.15.11  # @vscode/ripgrep in code-server 4.100.3's lib/vscode
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

rg_binary=$(command -v rg) || { echo "install.sh: ripgrep (rg) is needed: apt-get install ripgrep" >&2; exit 1; }
[ "$(uname -m)" = x86_64 ] || { echo "install.sh: only x86_64 Linux is set up" >&2; exit 1; }

# A private TMPDIR, so the seeded cache is ours and nothing is left in /tmp.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cache="$tmp/vscode-ripgrep-cache-$RIPGREP_PACKAGE_VERSION"
mkdir -p "$cache/rg"
cp "$rg_binary" "$cache/rg/rg"
tar -czf "$cache/$RIPGREP_ASSET" -C "$cache/rg" rg

# node-gyp would download Node's headers; use the installed ones when they are there.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_version.h ]; then
  export npm_config_nodedir=/usr
fi

# node-pty's postinstall runs `npx node-gyp`, which must not stop to ask (a user's npmrc may say
# yes=false).
export npm_config_yes=true
# code-server's postinstall refuses to run as root under npm unless npm_config_unsafe_perm is
# "true". npm 9+ no longer has that setting and warns `Unknown env config "unsafe-perm"` when it
# is in npm's own environment, so as root only the install scripts get it: npm runs them through
# this shell. (The postinstall's own nested `npm install` in lib/vscode shows no output.)
if [ "$(id -u)" = 0 ]; then
  printf '#!/bin/sh\nnpm_config_unsafe_perm=true exec /bin/sh "$@"\n' > "$tmp/script-shell"
  chmod +x "$tmp/script-shell"
  export npm_config_script_shell="$tmp/script-shell"
fi
# The install scripts that run (code-server's, argon2's) are listed in package.json's
# allowScripts, so npm 11.16+ does not warn that they are not covered.
TMPDIR="$tmp" npm ci --no-audit --no-fund "$@"
