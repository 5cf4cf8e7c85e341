# SPDX-License-Identifier: GPL-3.0-or-later
"""Server-sent events with ceilings: a line of at most :data:`LINE_LIMIT` bytes, an event of
at most :data:`EVENT_LIMIT` bytes and :data:`EVENT_LINES` lines, found in linear time.

Why not hand sseclient-py the body directly: it stitches an event together with
``data += line`` for every line it meets, so its cost grows with the square of an event's
size, and it keeps an event that never ends in memory whole; a hostile server's 100 MB line
took minutes and all of it in RAM. Here the byte stream is cut into event blocks (each up to
and including its blank line) by one scan, the bounds are checked as bytes arrive, and each
block is then parsed by sseclient-py as before (its square is now bounded by one block).

Line ends are ``\\r\\n``, ``\\n`` or ``\\r`` (the SSE specification's three); a ``\\r`` at the
end of a piece waits for the next byte, so a ``\\r\\n`` split across pieces is one line end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

import sseclient

#: The longest line of the chat stream (1 MiB: a chunk of a reply is a few hundred bytes).
LINE_LIMIT = 1 << 20
#: The largest event (1 MiB: one ``data:`` line of a whole completion fits).
EVENT_LIMIT = 1 << 20
#: The most lines one event may have (``event``, ``id``, ``retry`` and a few ``data`` lines).
EVENT_LINES = 64

_LINE_END = re.compile(rb"[\r\n]")


def event_blocks(
    chunks: Iterable[bytes],
    over: Callable[[int], BaseException],
    *,
    line_limit: int = LINE_LIMIT,
    event_limit: int = EVENT_LIMIT,
    max_lines: int = EVENT_LINES,
) -> Iterator[bytes]:
    """Each event of the stream ``chunks`` as one block of bytes ending with its blank line;
    the unterminated rest (a stream cut short) last, as it is.

    Raises ``over(count)`` (``count``: the bytes of the line or event so far) when a line, an
    event or an event's line count passes its bound. Blank lines between events are dropped.
    """
    buf = bytearray()
    event_start = line_start = scan = 0
    lines = 0
    for chunk in chunks:
        buf += chunk
        while True:
            found = _LINE_END.search(buf, scan)
            if found is None:
                scan = len(buf)
                break
            end = found.start()
            if buf[end] == 0x0D and end + 1 == len(buf):
                scan = end  # a "\r" whose "\n" may be in the next piece
                break
            after = end + (2 if buf[end] == 0x0D and buf[end + 1] == 0x0A else 1)
            if end == line_start:  # a blank line: the event ends here
                if lines:
                    yield bytes(buf[event_start:after])
                event_start = line_start = scan = after
                lines = 0
                continue
            lines += 1
            if lines > max_lines or end - line_start > line_limit:
                raise over(end - line_start)
            if after - event_start > event_limit:
                raise over(after - event_start)
            line_start = scan = after
        if len(buf) - line_start > line_limit:
            raise over(len(buf) - line_start)
        if len(buf) - event_start > event_limit:
            raise over(len(buf) - event_start)
        if event_start:
            del buf[:event_start]
            line_start -= event_start
            scan -= event_start
            event_start = 0
    rest = bytes(buf[event_start:])
    if rest.strip(b"\r\n"):
        yield rest


def events(
    chunks: Iterable[bytes], over: Callable[[int], BaseException]
) -> Iterator[sseclient.Event]:
    """The events of ``chunks`` parsed by sseclient-py, one bounded block at a time."""
    for block in event_blocks(chunks, over):
        yield from sseclient.SSEClient(iter([block])).events()
