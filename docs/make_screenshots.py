# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the mascot's screenshots into docs/screenshots/ (offscreen, no display needed).

    .venv/bin/python docs/make_screenshots.py [--out docs/screenshots] [--dpr 2]

Writes, each on a light and a dark desktop-like background:
- ``expression-<name>.png`` for every expression, and ``expressions.png`` (all of them);
- ``visemes.png``: every mouth shape (viseme group) and ``openness-<viseme>.png`` strips
  showing how a mouth opens;
- ``bubble-speech.png``, ``bubble-error.png``, ``bubble-sign-in.png``: the window with its
  speech bubble (the current word marked; an error with Retry; the sign-in prompt).

With ``--icons`` it also renders ``resources/icons/companion-<size>.png`` from
``resources/icons/companion.svg`` (16 to 256 px) for platforms that want bitmaps.
(``desktop-x11.png`` is not made here: it is a capture of the real window on Xvfb with
openbox and xcompmgr, ``import -window root``.)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--dpr", type=float, default=2.0, help="device pixel ratio to render at")
    ap.add_argument("--scale", default="medium", choices=("small", "medium", "large"))
    ap.add_argument("--icons", action="store_true", help="also write the PNG app icons")
    return ap.parse_args()


ARGS = _parse()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QT_SCALE_FACTOR"] = str(ARGS.dpr)

from PySide6.QtCore import QElapsedTimer, QEventLoop, QPoint, QRect, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QFont, QImage, QLinearGradient, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from companion import paths  # noqa: E402
from companion.config import Settings  # noqa: E402
from companion.speech.pipeline import WordTiming  # noqa: E402
from companion.speech.visemes import OPENNESS, VISEMES, VisemeFrame  # noqa: E402
from companion.ui.art import EXPRESSIONS, MascotArt  # noqa: E402
from companion.ui.mascot_view import MascotView  # noqa: E402
from companion.ui.window import MascotWindow  # noqa: E402

LIGHT = ("#f5f2ec", "#e6e1f0")
DARK = ("#1f2128", "#2c2f3a")
LABEL = {"light": QColor("#4a4458"), "dark": QColor("#c9c4d8")}

VISEME_NAMES = {
    "sil": "rest", "PP": "PP  p b m", "FF": "FF  f v", "TH": "TH  th", "DD": "DD  t d",
    "kk": "kk  k g", "CH": "CH  ch sh", "SS": "SS  s z", "nn": "nn  n l", "RR": "RR  r",
    "aa": "aa  a", "E": "E  e", "I": "I  ee", "O": "O  o", "U": "U  oo w",
}  # fmt: skip


class FixedClock:
    def __init__(self, ms: float) -> None:
        self.ms = ms

    def position_ms(self) -> float:
        return self.ms


def grab(widget: QWidget) -> QImage:
    """The widget on a transparent background, at the screen's pixel ratio."""
    dpr = widget.devicePixelRatioF()
    img = QImage(int(widget.width() * dpr), int(widget.height() * dpr), QImage.Format.Format_ARGB32)
    img.setDevicePixelRatio(dpr)
    img.fill(Qt.GlobalColor.transparent)
    widget.render(img, QPoint(), renderFlags=QWidget.RenderFlag.DrawChildren)
    return img


def settle(app: QApplication, *views: MascotView) -> None:
    """Let cross-fades and layout finish (no timers left running on the mascot)."""
    timer = QElapsedTimer()
    timer.start()
    while any(v.animating for v in views) and timer.elapsed() < 2000:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
    app.processEvents()


def backdrop(p: QPainter, rect: QRectF, colours: tuple[str, str]) -> None:
    grad = QLinearGradient(rect.topLeft(), rect.bottomRight())
    grad.setColorAt(0, QColor(colours[0]))
    grad.setColorAt(1, QColor(colours[1]))
    p.fillRect(rect, grad)


def sheet(cells: list[tuple[QImage, str]], columns: int, dpr: float, label_h: int = 22) -> QImage:
    """Cells in a grid, each on a light and (below it) a dark background."""
    cw = max(int(c.width() / c.devicePixelRatio()) for c, _ in cells) + 16
    ch = max(int(c.height() / c.devicePixelRatio()) for c, _ in cells) + 12
    rows = (len(cells) + columns - 1) // columns
    w, h = cw * min(columns, len(cells)), rows * 2 * (ch + label_h)
    out = QImage(int(w * dpr), int(h * dpr), QImage.Format.Format_ARGB32)
    out.setDevicePixelRatio(dpr)
    p = QPainter(out)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont()
    font.setPointSizeF(9.5)
    p.setFont(font)
    for row in range(rows):
        for band, colours in enumerate((LIGHT, DARK)):
            y = (row * 2 + band) * (ch + label_h)
            backdrop(p, QRectF(0, y, w, ch + label_h), colours)
            for col in range(columns):
                i = row * columns + col
                if i >= len(cells):
                    break
                img, text = cells[i]
                iw = img.width() / img.devicePixelRatio()
                x = col * cw + (cw - iw) / 2
                p.drawImage(QRectF(x, y + 6, iw, img.height() / img.devicePixelRatio()), img)
                p.setPen(LABEL["dark" if band else "light"])
                p.drawText(
                    QRect(col * cw, y + ch, cw, label_h),
                    Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                    text,
                )
    p.end()
    return out


def on_backgrounds(img: QImage, dpr: float, pad: int = 16) -> QImage:
    """One image twice: on a light desktop (left) and a dark one (right)."""
    iw, ih = img.width() / img.devicePixelRatio(), img.height() / img.devicePixelRatio()
    w, h = 2 * (iw + 2 * pad), ih + 2 * pad
    out = QImage(int(w * dpr), int(h * dpr), QImage.Format.Format_ARGB32)
    out.setDevicePixelRatio(dpr)
    p = QPainter(out)
    for i, colours in enumerate((LIGHT, DARK)):
        x = i * (iw + 2 * pad)
        backdrop(p, QRectF(x, 0, iw + 2 * pad, h), colours)
        p.drawImage(QRectF(x + pad, pad, iw, ih), img)
    p.end()
    return out


def main() -> int:
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    out: Path = ARGS.out
    out.mkdir(parents=True, exist_ok=True)
    dpr = float(ARGS.dpr)
    art = MascotArt()
    view = MascotView(art=art, scale=ARGS.scale)
    written: list[Path] = []

    def save(img: QImage, name: str) -> None:
        path = out / name
        if not img.save(str(path)):
            raise SystemExit(f"could not write {path}")
        written.append(path)

    expr_cells = []
    for expr in EXPRESSIONS:
        view.set_expression(expr)
        img = grab(view)
        save(on_backgrounds(img, dpr), f"expression-{expr}.png")
        expr_cells.append((img, expr.replace("_", " ")))
    save(sheet(expr_cells, 6, dpr), "expressions.png")

    view.set_expression("speaking")
    vis_cells = []
    for vis in VISEMES:
        view.set_mouth(VisemeFrame(vis, OPENNESS[vis]))
        vis_cells.append((grab(view), VISEME_NAMES[vis]))
    save(sheet(vis_cells, 5, dpr), "visemes.png")

    for vis in ("aa", "O", "E"):
        cells = []
        for rel in (0.0, 0.2, 0.4, 0.5, 0.7, 0.9, 1.0):
            view.set_mouth(VisemeFrame(vis, OPENNESS[vis] * rel))
            cells.append((grab(view), f"{vis} {rel:.0%}"))
        save(sheet(cells, 7, dpr), f"openness-{vis}.png")
    view.set_mouth(None)

    # The window with its bubble, as people see it on the desktop.
    settings = Settings()
    screen = app.primaryScreen().availableGeometry()
    settings.position = [screen.center().x() - 90, screen.bottom() - 260]
    win = MascotWindow(settings=settings, art=art)
    win.show()
    text = "Hello! I read every reply aloud, and my mouth follows the sound."
    words, pos = [], 0
    for i, word in enumerate(text.split(" ")):
        start = text.index(word, pos)
        pos = start + len(word)
        clean_end = pos - (1 if word[-1] in ",.!" else 0)
        words.append(WordTiming(i * 300.0, i * 300.0 + 260.0, start, clean_end))
    win.view.set_expression("speaking")
    win.view.set_mouth(VisemeFrame("E", OPENNESS["E"]))
    win.bubble.show_speech(text, words, FixedClock(7 * 300.0 + 20.0), 0.0)
    settle(app, win.view)
    save(on_backgrounds(grab(win), dpr), "bubble-speech.png")

    win.view.set_mouth(None)
    win.view.set_expression("concerned")
    win.bubble.show_message(
        "The speech service did not answer in time.", kind="error", action="retry"
    )
    settle(app, win.view)
    save(on_backgrounds(grab(win), dpr), "bubble-error.png")

    win.view.set_expression("signed_out")
    win.bubble.show_message(
        "You are signed out. Sign in to hear the reply.", kind="info", action="sign_in"
    )
    settle(app, win.view)
    save(on_backgrounds(grab(win), dpr), "bubble-sign-in.png")
    win.close()

    if ARGS.icons:
        svg = QSvgRenderer(str(paths.resource_path("icons/companion.svg")))
        for side in (16, 24, 32, 48, 64, 128, 256):
            icon = QImage(side, side, QImage.Format.Format_ARGB32)
            icon.fill(Qt.GlobalColor.transparent)
            p = QPainter(icon)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            svg.render(p, QRectF(0, 0, side, side))
            p.end()
            path = ROOT / "resources" / "icons" / f"companion-{side}.png"
            if not icon.save(str(path)):
                raise SystemExit(f"could not write {path}")
            written.append(path)

    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
