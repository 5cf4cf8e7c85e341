#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Starts a PulseAudio server with a null sink (a sound card that keeps real time) for tests.
# Source it: `. scripts/pulse.sh`; it exports XDG_RUNTIME_DIR / PULSE_SERVER for the tests.
command -v pulseaudio >/dev/null 2>&1 || { echo "pulse: pulseaudio not installed; audio tests will skip"; return 0 2>/dev/null || exit 0; }
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/companion-pulse-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
if ! pactl info >/dev/null 2>&1; then
  pulseaudio --daemonize=yes --exit-idle-time=-1 -n \
    --load="module-null-sink sink_name=companion_null rate=48000" \
    --load="module-native-protocol-unix" >/dev/null 2>&1 || true
  for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
fi
if pactl info >/dev/null 2>&1; then
  pactl set-default-sink companion_null >/dev/null 2>&1 || true
  # Keep the sink clocked: a silent stream that never ends (else the first real stream stalls).
  pgrep -f "pacat --playback /dev/zero" >/dev/null 2>&1 || \
    (nohup pacat --playback /dev/zero --format=s16le --rate=48000 --channels=2 >/dev/null 2>&1 &)
  export COMPANION_TEST_PULSE=1
  echo "pulse: null sink running at $XDG_RUNTIME_DIR"
else
  echo "pulse: could not start PulseAudio; audio tests will skip"
fi
