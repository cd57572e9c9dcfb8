"""Shared test setup: floating-point errors raise, a reproducible key, hypothesis profile.

* ``np.seterr``: division by zero, overflow and invalid operations raise
  ``FloatingPointError`` in every test (underflow, e.g. ``exp(-1000)``, is
  normal and stays silent). Warnings are errors through pyproject's
  ``filterwarnings``.
* ``key``: a root key whose seed is part of the test id (``[seed=...]``), so a
  failure report shows how to reproduce it; set ``FUNCNN_TEST_SEED`` to try
  another seed.
* Hypothesis: the ``funcnn`` profile (no deadline, few examples, no example
  database written into the repo); ``HYPOTHESIS_PROFILE=thorough`` runs more.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

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
