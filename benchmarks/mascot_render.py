# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-frame paint cost of the mascot while lip-syncing: cached pixmaps versus SVG each frame.

    .venv/bin/python benchmarks/mascot_render.py [--frames 600] [--scale medium]

Measured in one run, on the same frames (a 10 s synthetic lip-sync over every viseme):
- ``view``: MascotView.advance() + QWidget.render() of the view (what a frame costs on screen);
- ``cached draw``: ArtFrames.draw() alone (the drawPixmap calls), at pixel ratio 1 and 2;
- baseline ``svg render``: the same layers rendered by QSvgRenderer every frame (parsed once);
- baseline ``svg parse+render``: the SVG parsed and rendered every frame;
- the cache's memory (all layers and mouth steps rendered) per size and pixel ratio, and the
  one-off time to render it.

Prints medians (and 95th percentiles) in microseconds. Runs offscreen.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _figure import figure
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from companion.speech.types import VisemeCue
from companion.speech.visemes import VISEMES, VisemeFrame, VisemeTimeline
from companion.ui.art import (
    CANVAS,
    MOUTH_PIVOT_Y,
    SCALE_SIZES,
    ArtFrames,
    MascotArt,
    expression_mouth_layer,
    relative_openness,
)
from companion.ui.mascot_view import MascotView

FRAME_MS = 1000.0 / 60.0


class StepClock:
    def __init__(self) -> None:
        self.ms = 0.0

    def position_ms(self) -> float:
        return self.ms


def synthetic_timeline(duration_ms: float) -> VisemeTimeline:
    """Every viseme in turn, 70-160 ms each, with short pauses: like speech."""
    cues, t, i = [], 0.0, 0
    shapes = [v for v in VISEMES if v != "sil"]
    while t < duration_ms:
        length = 70.0 + (i * 37) % 90
        cues.append(
            VisemeCue(t, t + length, shapes[i % len(shapes)], 0.6 + 0.4 * ((i * 7) % 5) / 4)
        )
        t += length + (120.0 if i % 9 == 8 else 0.0)
        i += 1
    return VisemeTimeline(cues)


def image(size: int, dpr: float) -> QImage:
    img = QImage(round(size * dpr), round(size * dpr), QImage.Format.Format_ARGB32_Premultiplied)
    img.setDevicePixelRatio(dpr)
    return img


def timed(fn: Callable[[int], None], frames: int) -> list[float]:
    out = []
    for i in range(frames):
        t0 = time.perf_counter_ns()
        fn(i)
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    return out


def summary(name: str, samples: list[float]) -> float:
    med = statistics.median(samples)
    p95 = sorted(samples)[int(0.95 * (len(samples) - 1))]
    print(f"  {name:<34s} median {med:9.1f} us   p95 {p95:9.1f} us")
    return med


def svg_layers(art: MascotArt, frame: VisemeFrame) -> list[tuple[str, float]]:
    """The layers one frame needs, with the mouth's squash (as the cache would pick)."""
    rel = relative_openness(frame)
    mouth = f"mouth/{frame.viseme}"
    squash = 1.0 if frame.viseme == "sil" else max(0.3, rel)
    return [
        ("body", 1.0),
        ("face/speaking", 1.0),
        ("eyes/speaking", 1.0),
        (mouth if frame.viseme != "sil" else expression_mouth_layer("speaking"), squash),
    ]


def paint_svg(
    p: QPainter, renderers: dict[str, QSvgRenderer], layers: list[tuple[str, float]], unit: float
) -> None:
    for name, squash in layers:
        r = renderers[name]
        vb = r.viewBoxF()
        top = MOUTH_PIVOT_Y + (vb.top() - MOUTH_PIVOT_Y) * squash
        r.render(
            p,
            QRectF(vb.left() * unit, top * unit, vb.width() * unit, vb.height() * squash * unit),
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--scale", default="medium", choices=tuple(SCALE_SIZES))
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    art = MascotArt()
    size = SCALE_SIZES[args.scale]
    n = args.frames
    timeline = synthetic_timeline(n * FRAME_MS)
    print(f"mascot render benchmark: {n} frames at 60 fps, {args.scale} ({size} px), Qt offscreen")

    # The view as it runs: advance one frame along the clock, then paint the widget.
    clock = StepClock()
    view = MascotView(art=art, scale=args.scale)
    view.set_expression("speaking")
    view.start_lipsync(clock, timeline)
    frames_seen: list[VisemeFrame] = []
    target = image(size, 1.0)
    target.fill(Qt.GlobalColor.transparent)

    def view_frame(i: int) -> None:
        clock.ms = i * FRAME_MS
        view.advance(FRAME_MS)
        view.render(target)
        frames_seen.append(view.current_mouth())

    print("per frame (lip-syncing):")
    view_frame(0)  # warm
    frames_seen.clear()
    view_med = summary("view advance + render", timed(view_frame, n))
    view.stop_lipsync()
    distinct = len({f.viseme for f in frames_seen})
    used = art.frames(size, 1.0)
    view_bytes, view_pixmaps = used.nbytes, used.sprite_count

    results: dict[float, tuple[float, float, float]] = {}
    for dpr in (1.0, 2.0):
        frames: ArtFrames = art.frames(size, dpr)
        frames.prewarm()
        img = image(size, dpr)
        unit = size / CANVAS

        def cached(i: int, frames: ArtFrames = frames, img: QImage = img) -> None:
            img.fill(Qt.GlobalColor.transparent)
            p = QPainter(img)
            frames.draw(p, expression="speaking", mouth=frames_seen[i])
            p.end()

        renderers = {
            name: art.renderer(name) for name in ("body", "face/speaking", "eyes/speaking")
        }
        for v in VISEMES:
            renderers[f"mouth/{v}"] = art.renderer(f"mouth/{v}")

        def svg(
            i: int,
            img: QImage = img,
            unit: float = unit,
            renderers: dict[str, QSvgRenderer] = renderers,
        ) -> None:
            img.fill(Qt.GlobalColor.transparent)
            p = QPainter(img)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            paint_svg(p, renderers, svg_layers(art, frames_seen[i]), unit)
            p.end()

        blobs = {
            name: (art.root / f"{name}.svg").read_bytes()
            for name in ("body", "face/speaking", "eyes/speaking", *(f"mouth/{v}" for v in VISEMES))
        }

        def svg_parse(
            i: int, img: QImage = img, unit: float = unit, blobs: dict[str, bytes] = blobs
        ) -> None:
            img.fill(Qt.GlobalColor.transparent)
            layers = svg_layers(art, frames_seen[i])
            parsed = {name: QSvgRenderer(blobs[name]) for name, _ in layers}
            for r in parsed.values():
                r.setAspectRatioMode(Qt.AspectRatioMode.IgnoreAspectRatio)
            p = QPainter(img)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            paint_svg(p, parsed, layers, unit)
            p.end()

        print(f"pixel ratio {dpr:g}:")
        c = summary("cached draw (drawPixmap)", timed(cached, n))
        s = summary("baseline: svg render per frame", timed(svg, n))
        sp = summary("baseline: svg parse+render per frame", timed(svg_parse, min(n, 200)))
        results[dpr] = (c, s, sp)

    print(
        f"cache of the view after that reply ({args.scale} @ 1x: its expression, every mouth):"
        f" {view_bytes / 1e6:.2f} MB in {view_pixmaps} pixmaps"
    )
    print("cache memory (every layer and mouth step rendered) and one-off render time:")
    for scale, side in SCALE_SIZES.items():
        for dpr in (1.0, 2.0):
            fresh = MascotArt()
            t0 = time.perf_counter()
            f = fresh.frames(side, dpr)
            f.prewarm()
            ms = (time.perf_counter() - t0) * 1000.0
            print(
                f"  {scale:<6s} {side:3d} px @ {dpr:g}x: {f.nbytes / 1e6:6.2f} MB"
                f" in {f.sprite_count:3d} pixmaps, rendered once in {ms:6.1f} ms"
            )
    print("background warm-up (MascotView.WARM_BUDGET_MS slices on the GUI thread):")
    for dpr in (1.0, 2.0):
        fresh = MascotArt()
        f = fresh.frames(SCALE_SIZES["large"], dpr)
        slices = []
        done = False
        while not done:
            t0 = time.perf_counter()
            done = f.warm("idle", budget_ms=MascotView.WARM_BUDGET_MS)
            slices.append((time.perf_counter() - t0) * 1000.0)
        print(
            f"  large @ {dpr:g}x: {len(slices)} slices, longest {max(slices):.1f} ms,"
            f" total {sum(slices):.1f} ms"
        )
    c1, s1, _ = results[1.0]
    c2, s2, _ = results[2.0]
    print(
        f"summary: view frame {view_med:.0f} us; cached draw {c1:.0f} us (1x) / {c2:.0f} us (2x)"
        f" vs svg per frame {s1:.0f} us / {s2:.0f} us -> {s1 / c1:.1f}x / {s2 / c2:.1f}x faster;"
        f" {distinct} mouth shapes seen"
    )
    figure("render_view_frame", view_med, "us", what=f"view frame ({args.scale}, advance+render)")
    figure(
        "render_cached_draw",
        c1,
        "us",
        what="cached mouth draw per frame (1x)",
        baseline=s1,
        baseline_what="SVG rendered per frame",
    )
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
