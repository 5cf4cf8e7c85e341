# SPDX-License-Identifier: GPL-3.0-or-later
"""The animator's pass over raw viseme cues: what the eye should see, not every phoneme.

Phoneme timings give one shape per phoneme, some only a few milliseconds long. Drawn as they
are, they flicker; a hand animator (and Rhubarb Lip Sync's rules) would instead:

1. **anticipate lip rounding**: the lips round for ``O``/``U`` while the consonants before the
   vowel are still sounding ("school", "two", "strew": the lips are round from the ``s``), up
   to :data:`ANTICIPATION_MS` ahead; only shapes that need the lips themselves (``PP``
   closures, ``FF`` lip-on-teeth) keep their own;
2. **always reach closed**: a bilabial closure (``m b p``) is never dropped, however short,
   and is held at least :data:`MIN_CLOSURE_MS` (two frames at 60 fps, one at 24), borrowing
   at most half of each neighbour;
3. **drop flicker**: no shape shorter than one animation frame (:data:`FRAME_MS`, the mascot
   draws at 60 fps) is shown: it gives its time to a neighbour (the one of the same kind, else
   the longer); a rest of less than a frame between two shapes is bridged.

Nothing moves before 0 ms or past the end of the audio, and gaps (rest) stay gaps, so the
mouth still closes in pauses and at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

from companion.speech.types import VisemeCue

#: One animation frame of the mascot (its frame timer runs at about 60 fps).
FRAME_MS = 1000.0 / 60.0
#: Shortest closure shown, so a bilabial is seen at 30-60 fps.
MIN_CLOSURE_MS = 40.0
#: How far ahead of a rounded vowel the lips may start rounding.
ANTICIPATION_MS = 120.0

_VOWELS = frozenset({"aa", "E", "I", "O", "U"})
_ROUND = frozenset({"O", "U"})
#: Shapes made with the lips themselves: rounding cannot take them over.
_LIPS_BUSY = frozenset({"PP", "FF"})
_EPS = 1e-6


def merge_runs(cues: Sequence[VisemeCue]) -> list[VisemeCue]:
    """Join touching cues of the same viseme and weight."""
    out: list[VisemeCue] = []
    for cue in cues:
        if (
            out
            and out[-1].viseme == cue.viseme
            and abs(out[-1].end_ms - cue.start_ms) < _EPS
            and abs(out[-1].weight - cue.weight) < _EPS
        ):
            out[-1] = VisemeCue(out[-1].start_ms, cue.end_ms, cue.viseme, cue.weight)
        else:
            out.append(cue)
    return out


def _touch(a: VisemeCue, b: VisemeCue) -> bool:
    return abs(a.end_ms - b.start_ms) < _EPS


def anticipate_rounding(cues: Sequence[VisemeCue]) -> list[VisemeCue]:
    """Consonants right before a rounded vowel take its shape (within ANTICIPATION_MS)."""
    out = list(cues)
    for i in range(len(out) - 1, 0, -1):
        vowel = out[i]
        if vowel.viseme not in _ROUND:
            continue
        horizon = vowel.start_ms - ANTICIPATION_MS
        j = i - 1
        while j >= 0 and _touch(out[j], out[j + 1]):
            cons = out[j]
            if cons.viseme in _VOWELS or cons.viseme in _LIPS_BUSY or cons.end_ms <= horizon:
                break
            if cons.start_ms < horizon:  # only its last part rounds
                out[j : j + 1] = [
                    VisemeCue(cons.start_ms, horizon, cons.viseme, cons.weight),
                    VisemeCue(horizon, cons.end_ms, vowel.viseme, cons.weight),
                ]
                break
            out[j] = VisemeCue(cons.start_ms, cons.end_ms, vowel.viseme, cons.weight)
            j -= 1
    return out


def _same_kind(a: str, b: str) -> bool:
    return (a in _VOWELS) == (b in _VOWELS)


def drop_flicker(
    cues: Sequence[VisemeCue], *, end_ms: float, frame_ms: float = FRAME_MS
) -> list[VisemeCue]:
    """No shape (but a closure) and no rest inside speech shorter than ``frame_ms``."""
    out: list[VisemeCue] = []
    for cue in cues:  # bridge rests shorter than a frame
        if out and 0.0 < cue.start_ms - out[-1].end_ms < frame_ms:
            prev = out[-1]
            out[-1] = VisemeCue(prev.start_ms, cue.start_ms, prev.viseme, prev.weight)
        out.append(cue)
    out = merge_runs(out)
    while True:
        short = [
            k
            for k, c in enumerate(out)
            if c.viseme != "PP" and c.end_ms - c.start_ms < frame_ms - _EPS
        ]
        if not short:
            return out
        k = min(short, key=lambda i: out[i].end_ms - out[i].start_ms)
        cue = out[k]
        left = k - 1 if k > 0 and _touch(out[k - 1], cue) else None
        right = k + 1 if k + 1 < len(out) and _touch(cue, out[k + 1]) else None
        candidates = [n for n in (left, right) if n is not None and out[n].viseme != "PP"]
        if not candidates:
            # Alone between rests (or closures): hold it for one frame where there is room.
            lo = out[k - 1].end_ms if k > 0 else 0.0
            hi = out[k + 1].start_ms if k + 1 < len(out) else max(end_ms, cue.end_ms)
            need = frame_ms - (cue.end_ms - cue.start_ms)
            start = max(lo, cue.start_ms - need / 2.0)
            end = min(hi, start + frame_ms)
            start = max(lo, end - frame_ms)
            if end - start < frame_ms - _EPS:  # no room at all: the neighbours keep it
                if left is not None or right is not None:
                    n = left if left is not None else right
                    assert n is not None
                    out[n] = _absorb(out[n], cue)
                del out[k]
            else:
                out[k] = VisemeCue(start, end, cue.viseme, cue.weight)
            continue
        same = [n for n in candidates if _same_kind(out[n].viseme, cue.viseme)]
        pool = same or candidates
        n = max(pool, key=lambda i: out[i].end_ms - out[i].start_ms)
        out[n] = _absorb(out[n], cue)
        del out[k]
        out = merge_runs(out)


def _absorb(keeper: VisemeCue, lost: VisemeCue) -> VisemeCue:
    return VisemeCue(
        min(keeper.start_ms, lost.start_ms),
        max(keeper.end_ms, lost.end_ms),
        keeper.viseme,
        keeper.weight,
    )


def visible_closures(
    cues: Sequence[VisemeCue], end_ms: float, *, min_ms: float = MIN_CLOSURE_MS
) -> list[VisemeCue]:
    """Stretch bilabial closures shorter than ``min_ms`` into their neighbours.

    Each neighbour gives at most half of itself; nothing moves before 0 or past ``end_ms``.
    """
    out = list(cues)
    for k, cue in enumerate(out):
        if cue.viseme != "PP" or cue.end_ms - cue.start_ms >= min_ms:
            continue
        need = (min_ms - (cue.end_ms - cue.start_ms)) / 2.0
        start, end = cue.start_ms - need, cue.end_ms + need
        if k > 0 and out[k - 1].end_ms > start:
            prev = out[k - 1]
            start = max(start, prev.start_ms + (prev.end_ms - prev.start_ms) / 2.0)
            out[k - 1] = VisemeCue(prev.start_ms, start, prev.viseme, prev.weight)
        if k + 1 < len(out) and out[k + 1].start_ms < end:
            nxt = out[k + 1]
            end = min(end, nxt.end_ms - (nxt.end_ms - nxt.start_ms) / 2.0)
            out[k + 1] = VisemeCue(end, nxt.end_ms, nxt.viseme, nxt.weight)
        out[k] = VisemeCue(
            max(0.0, start), min(end, max(end_ms, cue.end_ms)), cue.viseme, cue.weight
        )
    return out


def animate(cues: Sequence[VisemeCue], *, end_ms: float) -> list[VisemeCue]:
    """The whole pass (module docstring): rounding, flicker, closures. ``sil`` cues are rest."""
    spoken = sorted(
        (c for c in cues if c.viseme != "sil" and c.end_ms > c.start_ms), key=lambda c: c.start_ms
    )
    shaped = visible_closures(anticipate_rounding(merge_runs(spoken)), end_ms)
    return merge_runs(drop_flicker(shaped, end_ms=end_ms))
