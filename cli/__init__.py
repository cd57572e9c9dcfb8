"""The ``funcnn`` command line (a thin Typer layer over the library).

The repository keeps it in the folder ``cli/``; it is installed as the package
``funcnn_cli`` (setuptools ``package-dir``), never as ``cli``, and
``funcnn_cli.main:app`` is the ``funcnn`` command. Its modules import each other
relatively, so they work under that name; import it as ``funcnn_cli``.
"""
