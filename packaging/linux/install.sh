#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the Companion bundle for the current user (or, with --system, for everyone):
#   the program folder    ~/.local/opt/companion          (/opt/companion)
#   a command             ~/.local/bin/companion          (/usr/local/bin/companion)
#   the menu entry        ~/.local/share/applications/companion.desktop
#   the icons             ~/.local/share/icons/hicolor/{scalable,NxN}/apps/companion.{svg,png}
# Usage: ./install.sh [--system] [--uninstall] [BUNDLE]
#   BUNDLE  the built bundle folder (default: the folder this script is in, when it holds the
#           program, else dist/companion next to the packaging/ folder)
# Settings, the sign-in token and logs live in your user folders and are never touched.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
mode=user
action=install
bundle=
for arg in "$@"; do
  case "$arg" in
    --system) mode=system ;;
    --uninstall) action=uninstall ;;
    -h|--help) sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
    *) bundle=$arg ;;
  esac
done

if [ "$mode" = system ]; then
  prefix=/opt/companion
  bindir=/usr/local/bin
  share=/usr/local/share
else
  prefix=$HOME/.local/opt/companion
  bindir=$HOME/.local/bin
  share=${XDG_DATA_HOME:-$HOME/.local/share}
fi
desktop_file=$share/applications/companion.desktop
icon_file=$share/icons/hicolor/scalable/apps/companion.svg

refresh() {
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$share/applications" 2>/dev/null || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$share/icons/hicolor" 2>/dev/null || true
}

if [ "$action" = uninstall ]; then
  rm -rf "$prefix"
  [ -L "$bindir/companion" ] && rm -f "$bindir/companion"
  rm -f "$desktop_file" "$icon_file" "$share"/icons/hicolor/*x*/apps/companion.png
  refresh
  echo "Companion removed (your settings stay in your user folders)."
  exit 0
fi

if [ -z "$bundle" ]; then
  if [ -x "$here/companion" ] && [ -d "$here/_internal" ]; then bundle=$here
  else bundle=$here/../../dist/companion; fi
fi
if [ ! -x "$bundle/companion" ] || [ ! -d "$bundle/_internal" ]; then
  echo "install.sh: no Companion bundle at $bundle (build one with: python packaging/build.py)" >&2
  exit 1
fi
bundle=$(cd "$bundle" && pwd)

# The program folder: a fresh copy, unless this is the installed copy already.
mkdir -p "$(dirname "$prefix")"
prefix=$(cd "$(dirname "$prefix")" && pwd)/$(basename "$prefix")
if [ "$bundle" != "$prefix" ]; then
  rm -rf "$prefix.new"
  cp -R "$bundle" "$prefix.new"
  rm -rf "$prefix"
  mv "$prefix.new" "$prefix"
fi
program=$prefix/companion

mkdir -p "$bindir"
ln -sfn "$program" "$bindir/companion"

# The menu entry, with the program's full path, quoted as the Desktop Entry spec says:
# \ " ` $ escaped inside the quotes, then every backslash doubled, % written as %%.
template=$prefix/_internal/share/applications/companion.desktop
[ -f "$template" ] || template=$here/companion.desktop
escaped=$(printf '%s' "$program" | sed -e 's/[\\"`$]/\\&/g' -e 's/\\/\\\\/g' -e 's/%/%%/g')
mkdir -p "$share/applications"
while IFS= read -r line; do
  case "$line" in
    Exec=*) printf 'Exec="%s"\n' "$escaped" ;;
    TryExec=*) printf 'TryExec=%s\n' "$program" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$template" > "$desktop_file.tmp"
mv "$desktop_file.tmp" "$desktop_file"

icons=$prefix/_internal/companion/resources/icons
if [ -f "$icons/companion.svg" ]; then
  mkdir -p "$(dirname "$icon_file")"
  cp "$icons/companion.svg" "$icon_file"
fi
for png in "$icons"/companion-*.png; do
  [ -f "$png" ] || continue
  size=${png##*/companion-}
  size=${size%.png}
  mkdir -p "$share/icons/hicolor/${size}x${size}/apps"
  cp "$png" "$share/icons/hicolor/${size}x${size}/apps/companion.png"
done
refresh

echo "Companion installed in $prefix"
echo "Start it from your applications menu, or run: companion"
case ":$PATH:" in *":$bindir:"*) ;; *) echo "(add $bindir to your PATH to run it by name)";; esac
