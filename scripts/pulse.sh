#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Starts a PulseAudio server with a null sink (a sound card that keeps real time) for tests.
# Source it: `. scripts/pulse.sh`; it exports XDG_RUNTIME_DIR / PULSE_SERVER for the tests.
# What it started (the daemon, the keep-alive pacat) is recorded in COMPANION_PULSE_STARTED;
# `companion_pulse_stop` stops exactly that, never a server that was running before.
companion_pulse_stop() {
  case " ${COMPANION_PULSE_STARTED:-} " in
    *" pacat:"*)
      local pid="${COMPANION_PULSE_STARTED##*pacat:}"; pid="${pid%% *}"
      kill "$pid" 2>/dev/null || true
      rm -f "$XDG_RUNTIME_DIR/companion-pacat.pid" ;;
  esac
  case " ${COMPANION_PULSE_STARTED:-} " in
    *" daemon "*) pulseaudio --kill >/dev/null 2>&1 || true ;;
  esac
  COMPANION_PULSE_STARTED=""
}
command -v pulseaudio >/dev/null 2>&1 || { echo "pulse: pulseaudio not installed; audio tests will skip"; return 0 2>/dev/null || exit 0; }
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/companion-pulse-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
# What this shell started. It is never exported: a value inherited from the environment names
# another shell's daemon and keep-alive (a child's stop must not kill its parent's), so drop it.
if [[ "$(declare -p COMPANION_PULSE_STARTED 2>/dev/null)" == "declare -x"* ]]; then
  export -n COMPANION_PULSE_STARTED
  COMPANION_PULSE_STARTED=""
fi
COMPANION_PULSE_STARTED="${COMPANION_PULSE_STARTED:-}"
if ! pactl info >/dev/null 2>&1; then
  COMPANION_PULSE_STARTED="$COMPANION_PULSE_STARTED daemon"
  pulseaudio --daemonize=yes --exit-idle-time=-1 -n \
    --load="module-null-sink sink_name=companion_null rate=48000" \
    --load="module-native-protocol-unix" >/dev/null 2>&1 || true
  for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
fi
if pactl info >/dev/null 2>&1; then
  pactl set-default-sink companion_null >/dev/null 2>&1 || true
  # Keep the sink clocked: a silent stream that never ends. The null sink renders ahead by the
  # lowest latency its streams ask for (2 s with none, or with pacat's default), and a new stream
  # waits until that block is used up: every stream stalled up to 2 s (a 2 s sd.play took 3.9 s).
  # A 50 ms keep-alive keeps the sink's block at 12.5 ms; the 2 s block rendered before it joined
  # drains once, so wait for the sink latency to drop under 0.1 s.
  # One keep-alive per server (its pid file is in the server's runtime dir).
  _pidfile="$XDG_RUNTIME_DIR/companion-pacat.pid"
  if ! { [ -f "$_pidfile" ] && kill -0 "$(cat "$_pidfile")" 2>/dev/null; }; then
    nohup pacat --playback /dev/zero --latency-msec=50 --format=s16le --rate=48000 --channels=2 \
      >/dev/null 2>&1 </dev/null &
    echo $! >"$_pidfile"
    COMPANION_PULSE_STARTED="$COMPANION_PULSE_STARTED pacat:$!"
    disown $! 2>/dev/null || true
    for _ in $(seq 30); do
      lat=$(pactl list sinks 2>/dev/null | awk '$1 == "Latency:" {print $2; exit}')
      [ -n "$lat" ] && [ "$lat" -lt 100000 ] && break
      sleep 0.1
    done
  fi
  export COMPANION_TEST_PULSE=1
  echo "pulse: null sink running at $XDG_RUNTIME_DIR"
else
  echo "pulse: could not start PulseAudio; audio tests will skip"
fi
