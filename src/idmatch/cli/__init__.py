"""`idmatch` command line. Each subcommand lives in its own module with a ``register(subparsers)``.

Exit codes: 0 success / match, 1 no match (or check failed), 2 bad input or any IdmatchError.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from ..errors import IdmatchError

# Subcommand modules (each exposes register(subparsers) setting ``func`` on its parser).
COMMAND_MODULES = ["verify", "evaluate", "calibrate", "quality", "serve", "keys", "audit", "purge", "erase", "rekey", "liveness", "document"]

EXIT_OK, EXIT_NO_MATCH, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="idmatch", description="Identity verification: live face vs ID portrait.")
    parser.add_argument("--version", action="version", version=f"idmatch {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def emit_error(err: IdmatchError, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"error": err.to_dict()}))
    else:
        print(f"error [{err.code}]: {err.message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args) or 0)
    except IdmatchError as err:
        emit_error(err, getattr(args, "json", False))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
