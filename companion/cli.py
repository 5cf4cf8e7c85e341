# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line: ``companion`` (the mascot), ``say``, ``ask``, ``speak``, ``--self-test``,
``--version``.

Each sub-command lives in its own module and is imported only when used, so
``companion --version`` and ``companion speak`` never load the GUI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from companion import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="companion",
        description="A desktop mascot that speaks assistant replies aloud with lip-sync.",
    )
    parser.add_argument("--version", action="version", version=f"companion {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open the mascot, speak one sentence, check the mouth moved, print one line, exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    speak = sub.add_parser("speak", help="speak TEXT (or - for stdin) without the mascot window")
    speak.add_argument("text", help="the text to speak, or - to read standard input")
    speak.add_argument(
        "--output", metavar="FILE", help="write FILE (.wav, .flac or .ogg) instead of playing"
    )
    speak.add_argument("--visemes", metavar="FILE.json", help="write the viseme timeline as JSON")
    speak.add_argument("--voice", help="voice name (backend voice, or the embedded voice)")
    speak.add_argument("--speed", type=float, default=None, help="speaking rate, 0.5 to 2.0")

    say = sub.add_parser("say", help="hand TEXT (or - for stdin) to the running mascot")
    say.add_argument("text", help="the text to say, or - to read standard input")

    ask = sub.add_parser(
        "ask", help="ask the assistant TEXT (or - for stdin); the mascot shows and speaks the reply"
    )
    ask.add_argument("text", help="the question, or - to read standard input")
    ask.add_argument(
        "--print", action="store_true", help="also write the reply to standard output as it streams"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "speak":
        from companion.commands.speak import run_speak

        return run_speak(args)
    if args.command == "say":
        from companion.commands.say import run_say

        return run_say(args)
    if args.command == "ask":
        from companion.commands.ask import run_ask

        return run_ask(args)
    if args.self_test:
        from companion.commands.selftest import run_self_test

        return run_self_test()
    from companion.commands.mascot import run_mascot

    return run_mascot()


if __name__ == "__main__":
    sys.exit(main())
