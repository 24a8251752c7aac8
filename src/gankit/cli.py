"""The ``gankit`` command line: parse -> config -> public library function.

Each subcommand lives in its own module under :mod:`gankit.commands` and defines::

    NAME = "train"                 # the subcommand
    HELP = "one line for `gankit --help`"
    def add_arguments(parser): ... # argparse arguments
    def run(args) -> int: ...      # calls library functions; returns the exit code

This is the only place that exits: :class:`~gankit.errors.GankitError` becomes a one-line
message and exit code 2, Ctrl-C exit code 130; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from gankit import __version__
from gankit.errors import GankitError, did_you_mean


def _command_modules():
    import gankit.commands as pkg

    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            mods.append(importlib.import_module(f"gankit.commands.{info.name}"))
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gankit", description="Train, evaluate and use GANs with PyTorch.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = {}
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION",
                                                                         mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
        commands[mod.NAME] = p
    parser.set_defaults(_commands=commands)  # for the subcommand's usage on unknown flags
    return parser


def _check_command(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """An unknown COMMAND gets a "did you mean" (argparse only lists the choices)."""
    commands = parser.get_default("_commands")
    for word in argv:
        if word in ("-h", "--help", "--version"):
            return
        if not word.startswith("-"):
            if word not in commands:
                parser.error(f"unknown command {word!r}{did_you_mean(word, commands)} "
                             f"(commands: {', '.join(commands)})")
            return


def _unknown_flags(parser: argparse.ArgumentParser, command: str | None,
                   extra: list[str]) -> None:
    """Exit with the subcommand's usage, naming each unknown flag and its closest match."""
    sub = parser.get_default("_commands").get(command, parser)
    known = [s for action in sub._actions for s in action.option_strings]
    hints = []
    for word in extra:
        flag = word.split("=", 1)[0]
        if flag.startswith("-") and (close := did_you_mean(flag, known)):
            hints.append(f"{flag}{close.replace(';', ':', 1)}")
    sub.error(f"unrecognized arguments: {' '.join(extra)}"
              + (f" ({' '.join(hints)})" if hints else "")
              + f"; see `gankit {command + ' ' if command else ''}--help`")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    _check_command(parser, list(sys.argv[1:] if argv is None else argv))
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come after options (`train x.yaml --out d train.steps=9`)
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-")
                                                    for e in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        _unknown_flags(parser, args.command, extra)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s", stream=sys.stderr)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except GankitError as e:
        print(f"gankit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130
