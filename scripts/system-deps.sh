#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the Debian/Ubuntu packages Companion uses, when we may (root or password-less sudo).
# Usage: scripts/system-deps.sh run|test
set -uo pipefail
run_pkgs=(libportaudio2 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0
  libxcb-render-util0 libxcb-image0 fonts-dejavu-core python3-venv)
# flite: a voice of benchmarks/lipsync_eval.py; icu-devtools, gcc, binutils: the bundle build
test_pkgs=(pulseaudio pulseaudio-utils xvfb xdotool flite icu-devtools gcc binutils)
pkgs=("${run_pkgs[@]}")
[ "${1:-run}" = test ] && pkgs+=("${test_pkgs[@]}")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else
  echo "companion: missing system packages: ${missing[*]}" >&2
  echo "companion: install them with: sudo apt-get install ${missing[*]}" >&2
  echo "companion: (without libportaudio2 the companion runs silently)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null && "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null \
  || echo "companion: could not install ${missing[*]}; continuing without them" >&2
exit 0
