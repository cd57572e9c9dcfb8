"""Shared test setup: floating-point errors raise, a reproducible key, hypothesis profile.

* ``np.seterr``: division by zero, overflow and invalid operations raise
  ``FloatingPointError`` in every test (underflow, e.g. ``exp(-1000)``, is
  normal and stays silent). Warnings are errors through pyproject's
  ``filterwarnings``.
* ``key``: a root key whose seed is part of the test id (``[seed=...]``), so a
  failure report shows how to reproduce it; set ``FUNCNN_TEST_SEED`` to try
  another seed.
* ``example``: loads a script from ``examples/`` as a module, the way it runs
  from the command line (its siblings such as ``_common`` importable by name).
* Hypothesis: the ``funcnn`` profile (no deadline, few examples, no example
  database written into the repo); ``HYPOTHESIS_PROFILE=thorough`` runs more.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import settings

import funcnn as fn

settings.register_profile("funcnn", deadline=None, max_examples=25, database=None, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=300, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "funcnn"))

# When a hypothesis test fails, its pytest plugin imports hypothesis.extra._patching
# (and libcst, which triggers a third-party DeprecationWarning). Under
# filterwarnings=error that import would turn a clean failure report into a
# pytest INTERNALERROR, so import it once here with that warning silenced.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401

SEED = int(os.environ.get("FUNCNN_TEST_SEED", "20240601"))
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="session", autouse=True)
def _raise_on_float_errors() -> Iterator[None]:
    old = np.seterr(divide="raise", over="raise", invalid="raise", under="ignore")
    yield
    np.seterr(**old)


@pytest.fixture(params=[SEED], ids=lambda s: f"seed={s}")
def seed(request: pytest.FixtureRequest) -> int:
    """The test seed (shown in the test id)."""
    value: int = request.param
    return value


@pytest.fixture
def key(seed: int) -> fn.Key:
    """A root key; its seed is in the test id and in the Key's repr."""
    return fn.key(seed)


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """Load ``examples/<name>.py`` afresh; its module's ``main(argv)`` runs the example in-process.

    The examples are scripts, not a package: ``_common`` and every example
    loaded in this test are importable by their file names (``from mnist_cnn
    import ...`` works after ``example("mnist_cnn")``), as when run from the
    ``examples`` folder; ``sys.modules`` is restored after the test.
    """

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    load("_common")
    return load
