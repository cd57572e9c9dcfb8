"""``python -m funcnn``: the ``funcnn`` command line.

The command line (the package ``funcnn_cli``, kept in the repository's ``cli/``
folder, with Typer) is imported here only, never by ``import funcnn``.
"""

from __future__ import annotations

import importlib


def main() -> None:
    """Run the ``funcnn`` command line with the arguments of this process."""
    # Imported by name: an editable install maps funcnn_cli to cli/ with an import hook that
    # type checkers do not follow, and the library must not depend on the command line's types.
    command_line = importlib.import_module("funcnn_cli.entry")  # signal handlers first, then the app
    command_line.main()


if __name__ == "__main__":
    main()
