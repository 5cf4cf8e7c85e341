# SPDX-License-Identifier: GPL-3.0-or-later
"""A pack's layers parsed and checked: a :class:`Character` ready to draw, or a PackError.

Checks, each with its own message: the manifest (:mod:`~companion.characters.manifest`), every
required layer present (and only one file per layer), every SVG well-formed XML that Qt
parses, with no reference to a file (only ``#id`` and ``data:`` links), every PNG (and every
image inside an SVG) at most :data:`MAX_PIXELS` pixels and :data:`MAX_SIDE` on a side, read
from its header before anything is decoded.

Each layer has a box on the canvas: the manifest's ``[boxes]`` entry for it or its folder,
else an SVG's ``viewBox``, else (a PNG) the whole canvas. Where the manifest gives no pivots,
the mouths open downward from the top of what the rest mouth draws and the eyes blink toward
the middle of what the idle eyes draw (found from their pixels once, here).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, QSize, Qt
from PySide6.QtGui import QImage, QImageReader, QPainter
from PySide6.QtSvg import QSvgRenderer

from companion.characters.layers import LAYER_SUFFIXES, optional_layers, required_layers
from companion.characters.manifest import MANIFEST, Manifest, PackError, parse_manifest
from companion.characters.mouths import mouth_layers, required_shapes, shape_names
from companion.characters.source import PackSource, open_source

log = logging.getLogger("companion.characters")

#: The most pixels one image may have (2048 x 2048), and its longest side.
MAX_PIXELS = 2048 * 2048
MAX_SIDE = 4096
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_DATA_IMAGE = re.compile(r"^data:image/[a-z+.-]+;base64,", re.IGNORECASE)
#: Side of the image the pivots are measured on.
_MEASURE_SIDE = 256


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer: its place on the canvas and what paints it (an SVG or an image)."""

    name: str
    box: QRectF
    svg: QSvgRenderer | None = None
    image: QImage | None = None

    def paint(self, painter: QPainter, target: QRectF) -> None:
        """Draw the layer into ``target`` (device pixels of the painter)."""
        if self.svg is not None:
            self.svg.render(painter, target)
        elif self.image is not None:
            w, h = max(1, round(target.width())), max(1, round(target.height()))
            scaled = self.image.scaled(
                w,
                h,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            painter.drawImage(target, scaled)


@dataclass(frozen=True)
class Character:
    """A checked pack, its layers parsed (nothing is re-read to draw it).

    Attributes:
        manifest: the checked manifest.
        layers: every layer by name (``mouth/aa``, ``eyes/closed``); optional ones may be absent.
        mouths: viseme → the layer that draws it.
        mouth_pivot, eye_pivot: the upper-lip line and the eyes' middle line (canvas units).
        path: the pack's folder or zip file.
    """

    manifest: Manifest
    layers: dict[str, Layer]
    mouths: dict[str, str]
    mouth_pivot: float
    eye_pivot: float
    path: Path

    @property
    def id(self) -> str:
        return self.manifest.id

    def mouth_layer(self, viseme: str) -> str:
        return self.mouths.get(viseme, self.mouths["sil"])


def _layer_files(source: PackSource, manifest: Manifest) -> dict[str, str]:
    """Layer name → its file in the pack, for every layer the pack has; checks what is missing."""
    names = source.names()
    wanted = [*required_layers(), *optional_layers()]
    wanted += [f"mouth/{s}" for s in shape_names(manifest.mouths)]
    files: dict[str, str] = {}
    for layer in wanted:
        found = [f"{layer}{suffix}" for suffix in LAYER_SUFFIXES if f"{layer}{suffix}" in names]
        if len(found) > 1:
            raise PackError(f"The layer {layer} is there twice ({' and '.join(found)}); keep one.")
        if found:
            files[layer] = found[0]
    required = [*required_layers(), *(f"mouth/{s}" for s in required_shapes(manifest.mouths))]
    missing = [layer for layer in required if layer not in files]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise PackError(
            f"The pack has no layer {', '.join(missing[:3])}{more} "
            f"(expected as .svg or .png; see docs/characters.md)."
        )
    return files


def _reader(data: bytes) -> tuple[QImageReader, QBuffer]:
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    return QImageReader(buffer), buffer  # the buffer must live as long as the reader


def _image_size(data: bytes, what: str) -> QSize:
    """The image's size from its header (nothing is decoded)."""
    reader, _buffer = _reader(data)
    size = reader.size()
    if not size.isValid() or size.isEmpty():
        raise PackError(f"{what} is not a readable image.")
    return size


def _check_pixels(size: QSize, what: str) -> None:
    w, h = size.width(), size.height()
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise PackError(
            f"{what} is too large ({w} x {h} pixels); an image may have at most "
            f"{MAX_PIXELS // 1_000_000} million pixels and {MAX_SIDE} on a side."
        )


def _read_png(data: bytes, name: str) -> QImage:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise PackError(f"{name} is not a PNG image.")
    _check_pixels(_image_size(data, name), name)
    reader, _buffer = _reader(data)
    image = reader.read()
    if image.isNull():
        raise PackError(f"{name} is a broken PNG image.")
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


def _check_svg_xml(data: bytes, name: str) -> None:
    """Well-formed XML with an ``<svg>`` root, no file references, no oversized images."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise PackError(f"{name} is a broken SVG file (XML error: {exc}).") from None
    if root.tag.rsplit("}", 1)[-1] != "svg":
        raise PackError(f"{name} is not an SVG file (its root element is not <svg>).")
    for element in root.iter():
        href = element.get(_XLINK_HREF) or element.get("href")
        if href is None:
            continue
        href = href.strip()
        if href.startswith("#"):
            continue
        if not _DATA_IMAGE.match(href):
            raise PackError(
                f"{name} refers to a file outside the pack ({href[:60]!r}); "
                "embed images as data: URLs."
            )
        try:
            embedded = base64.b64decode(href.split(",", 1)[1], validate=False)
        except ValueError:
            raise PackError(f"{name} holds a broken embedded image.") from None
        _check_pixels(_image_size(embedded, f"An image inside {name}"), f"An image inside {name}")


def _read_svg(data: bytes, name: str) -> QSvgRenderer:
    _check_svg_xml(data, name)
    renderer = QSvgRenderer(QByteArray(data))
    if not renderer.isValid():
        raise PackError(f"{name} is a broken SVG file (Qt cannot draw it).")
    renderer.setAspectRatioMode(Qt.AspectRatioMode.IgnoreAspectRatio)
    return renderer


def _box(manifest: Manifest, layer: str, svg: QSvgRenderer | None) -> QRectF:
    folder = layer.split("/", 1)[0]
    box = manifest.boxes.get(layer) or manifest.boxes.get(folder)
    if box is not None:
        return QRectF(*box)
    if svg is not None:
        vb = svg.viewBoxF()
        if vb.isValid() and not vb.isEmpty():
            return vb
    return QRectF(0.0, 0.0, manifest.width, manifest.height)


def _content_rows(layer: Layer, manifest: Manifest) -> tuple[float, float] | None:
    """The top and bottom (canvas units) of what ``layer`` draws, None when it is empty."""
    scale = _MEASURE_SIDE / max(manifest.width, manifest.height)
    w = max(1, round(manifest.width * scale))
    h = max(1, round(manifest.height * scale))
    image = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    box = layer.box
    layer.paint(
        painter,
        QRectF(box.left() * scale, box.top() * scale, box.width() * scale, box.height() * scale),
    )
    painter.end()
    pixels = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(h, image.bytesPerLine())
    alpha = pixels[:, 3 : w * 4 : 4]  # ARGB32 is B, G, R, A in memory on little-endian
    rows = np.flatnonzero(alpha.max(axis=1) > 16)
    if rows.size == 0:
        return None
    return float(rows[0]) / scale, float(rows[-1] + 1) / scale


def read_character(source: PackSource) -> Character:
    """Every layer of the pack in ``source`` parsed and checked; raises PackError."""
    names = source.names()
    if MANIFEST not in names:
        raise PackError(f"{source.path.name} is not a character pack: it has no {MANIFEST}.")
    manifest = parse_manifest(source.read(MANIFEST))
    layers: dict[str, Layer] = {}
    for layer, filename in _layer_files(source, manifest).items():
        data = source.read(filename)
        if filename.endswith(".svg"):
            svg = _read_svg(data, filename)
            layers[layer] = Layer(layer, _box(manifest, layer, svg), svg=svg)
        else:
            image = _read_png(data, filename)
            layers[layer] = Layer(layer, _box(manifest, layer, None), image=image)
    shapes = {name.split("/", 1)[1] for name in layers if name.startswith("mouth/")}
    mouths = mouth_layers(manifest.mouths, shapes)
    mouth_pivot = manifest.mouth_pivot
    if mouth_pivot is None:
        rest = _content_rows(layers[mouths["sil"]], manifest)
        mouth_pivot = rest[0] if rest else layers[mouths["sil"]].box.top()
    eye_pivot = manifest.eye_pivot
    if eye_pivot is None:
        eyes = _content_rows(layers["eyes/idle"], manifest)
        eye_pivot = (eyes[0] + eyes[1]) / 2 if eyes else layers["eyes/idle"].box.center().y()
    return Character(manifest, layers, mouths, mouth_pivot, eye_pivot, source.path)


def load_character(path: Path) -> Character:
    """The pack at ``path`` (a folder or a zip), checked; raises PackError."""
    source = open_source(path)
    with contextlib.closing(source):
        character = read_character(source)
    log.debug("[characters] %s: %d layers", character.id, len(character.layers))
    return character
