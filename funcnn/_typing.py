"""Type aliases shared by every module.

``FloatT`` is the one dtype variable of the library: parameters, activations,
gradients and optimizer buffers of one model all share it, so float32 models
stay float32 end to end.
"""

from __future__ import annotations

from typing import TypeAlias, TypeVar

import numpy as np
from numpy.typing import NDArray

__all__ = ["Array", "FloatT", "IntArray", "Shape"]

FloatT = TypeVar("FloatT", np.float32, np.float64)
Array: TypeAlias = NDArray[FloatT]
IntArray: TypeAlias = NDArray[np.int64]
Shape: TypeAlias = tuple[int, ...]
