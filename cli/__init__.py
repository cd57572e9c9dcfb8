"""The ``funcnn`` command line (a thin Typer layer over the library)."""
