"""Subcommands of the ``pyrnn`` command line, one module per command (see pyrnn/cli.py).

Each public module here defines ``add_parser(subparsers)`` and ``run(args) -> int``;
pyrnn/cli.py finds them by listing this folder and imports only the one that runs.
Modules starting with ``_`` are private helpers.
"""
