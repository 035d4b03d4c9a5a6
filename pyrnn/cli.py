"""The ``pyrnn`` command line (also ``python -m pyrnn``): ``pyrnn <command> [options]``.

Promises: ``pyrnn --help`` imports no command module (it stays fast), and a command whose
module or optional dependency fails to import breaks only itself, with a clear message.

How to add a command
--------------------
Commands are plain modules in ``pyrnn/commands/``, found by listing that folder; nothing
else needs editing. For a command ``pyrnn my-thing``:

1. Create ``pyrnn/commands/my_thing.py`` (underscores in the module name become dashes
   in the command name; modules whose names start with ``_`` are helpers, not commands).
2. Open it with a docstring whose FIRST LINE is the one-line summary ``pyrnn --help``
   shows; that line is read from the source without importing the module.
3. Define ``add_parser(subparsers) -> argparse.ArgumentParser``: call
   ``subparsers.add_parser("my-thing", help=..., description=...)``, add the options
   (argparse gives every parser ``--help``) and return the parser.
4. Define ``run(args: argparse.Namespace) -> int`` returning the exit code: 0 success,
   1 failure (argparse itself exits with 2 on bad usage). Print results to stdout,
   progress and warnings to stderr; raise nothing for expected failures.
5. Import optional dependencies (torch, onnxruntime, matplotlib, ...) inside functions
   and say how to install them when missing; numpy is the only required one. If the
   module cannot even be imported without one, ``pyrnn my-thing`` reports the missing
   module and returns 1, and the other commands are unaffected.
6. Add ``tests/test_cli_my_thing.py``; ``main(["my-thing", ...])`` runs in-process.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

_COMMANDS_DIR = Path(__file__).resolve().parent / "commands"
_PACKAGE = "pyrnn.commands"


def _summary(path: Path) -> str:
    """First line of a module's docstring, read without importing the module."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    except (OSError, SyntaxError, ValueError):
        return ""
    return doc.strip().splitlines()[0].strip() if doc else ""


def discover_commands() -> Dict[str, str]:
    """Command name -> module name (in ``pyrnn.commands``), sorted by command name."""
    found = {}
    for info in pkgutil.iter_modules([str(_COMMANDS_DIR)]):
        if info.name.startswith("_"):
            continue
        found[info.name.replace("_", "-")] = info.name
    return dict(sorted(found.items()))


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("pyrnn")
    except Exception:  # noqa: BLE001 - not installed as a distribution (source tree)
        return "unknown"


def _selected(argv: Sequence[str], commands: Dict[str, str]) -> Optional[str]:
    """The command named on the command line: the first argument not starting with '-'."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in commands else None
    return None


def build_parser(commands: Dict[str, str], load: Optional[str] = None) -> argparse.ArgumentParser:
    """The top-level parser. Only the command ``load`` gets its real sub-parser (its module
    is imported); the others get a placeholder that carries their summary for --help."""
    parser = argparse.ArgumentParser(
        prog="pyrnn",
        description="pyrnn: fast CPU RNN/LSTM/GRU. Run 'pyrnn <command> --help' for a "
                    "command's options.",
    )
    parser.add_argument("--version", action="version", version=f"pyrnn {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", title="commands")
    for name, module in commands.items():
        if name == load:
            mod = importlib.import_module(f"{_PACKAGE}.{module}")
            cmd_parser = mod.add_parser(sub)
            cmd_parser.set_defaults(_run=mod.run)
        else:
            sub.add_parser(name, help=_summary(_COMMANDS_DIR / f"{module}.py"), add_help=False)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the chosen command, return its exit code.

    Usage errors raise ``SystemExit(2)`` (argparse's convention), as does ``--help`` with 0.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = discover_commands()
    name = _selected(argv, commands)
    try:
        parser = build_parser(commands, load=name)
    except ImportError as e:
        missing = f" (missing module {e.name!r}; install it to use this command)" if e.name else ""
        print(f"pyrnn {name}: cannot load the command: {e}{missing}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - a broken command must not look like a pyrnn crash
        print(f"pyrnn {name}: cannot load the command: {type(e).__name__}: {e}",
              file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        parser.exit(2, "\npyrnn: error: a command is required\n")
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        print("\npyrnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover - python -m pyrnn.cli
    sys.exit(main())
