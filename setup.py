"""Which packages ``pip install .`` installs; everything else is in pyproject.toml.

``funcnn`` and its subpackages are found; the command line, kept in the folder
``cli/``, is installed as ``funcnn_cli`` (pyproject.toml maps the name to the
folder with ``package-dir``), so no top-level package named ``cli`` is installed.
"""

from setuptools import find_packages, setup

# funcnn/data holds the shipped data files only (no __init__.py): listed so setuptools installs it as package data.
library = [*find_packages(include=["funcnn", "funcnn.*"]), "funcnn.data"]
command_line = ["funcnn_cli" + name.removeprefix("cli") for name in find_packages(include=["cli", "cli.*"])]

setup(packages=[*library, *command_line])
