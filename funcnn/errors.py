"""The funcnn exception hierarchy: every error the library raises on purpose.

Each class also derives from the built-in exception a caller would expect, so
``except ValueError`` keeps working. Messages follow one shape:
``where: expected ..., got .... hint``.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "ExplainError",
    "ExportError",
    "FuncnnError",
    "MissingRngError",
    "NonFiniteLossError",
    "RunLockedError",
    "ShapeError",
    "TreeStructureError",
]


class FuncnnError(Exception):
    """Base class of every error funcnn raises on purpose."""


class ShapeError(FuncnnError, ValueError):
    """An array has the wrong shape for a layer, a loss or a tree.

    Common causes: the model was initialised for another ``in_shape``; labels
    are one-hot where integers were expected (or the reverse); images were not
    flattened before a ``Dense`` layer. The message names the layer or loss and
    both shapes.
    """


class TreeStructureError(FuncnnError, TypeError):
    """Two trees that must mirror each other do not (params vs grads, etc.).

    The message lists the missing and extra paths and any shape or dtype that
    differs. Usually the grads or optimizer state come from another model.
    """


class MissingRngError(FuncnnError, ValueError):
    """A layer needs randomness (e.g. ``Dropout`` in training) but no key was given.

    Pass ``key=...`` to ``forward`` or use ``train=False`` for inference.
    """


class NonFiniteLossError(FuncnnError, FloatingPointError):
    """The cost became NaN or infinite during training.

    The message names the epoch and step. Usually the learning rate is too
    large; try a smaller one, or clip gradients.
    """


class CheckpointError(FuncnnError, ValueError):
    """A checkpoint file cannot be read, is corrupt, or does not fit the model.

    The message names the file and the problem. Nothing is loaded partially.
    """


class RunLockedError(FuncnnError, RuntimeError):
    """A run folder is claimed by another process (or a killed process left its lock).

    ``owner`` is who holds the lock (a :class:`funcnn.io.lock.LockOwner`, or None
    when unknown); ``stale`` is True when that process is known to be gone.
    """

    def __init__(self, message: str, *, owner: object = None, stale: bool = False) -> None:
        super().__init__(message)
        self.owner = owner
        self.stale = stale


class ConfigError(FuncnnError, ValueError):
    """A spec config (dict, JSON or TOML) is invalid: unknown kind or bad field."""


class DataError(FuncnnError, ValueError):
    """A data file or array is malformed (NaN, ragged rows, bad IDX header, ...).

    The message names the file, the line or byte offset, and the problem.
    """


class ExplainError(FuncnnError, ValueError):
    """An inspection function (``funcnn.explain``) cannot do what was asked of this model.

    Common causes: a layer path that is not in the model (the message lists the
    paths there are), a channel or target index out of range, an occlusion
    window larger than the image, or a layer kind for which deconvnet and guided
    backprop have no rule (a layer defined outside funcnn): use ``saliency``,
    which needs only the layer's own backward pass.
    """


class ExportError(FuncnnError, ValueError):
    """A model cannot be exported to, or imported from, another format (ONNX, PyTorch).

    Common causes: a custom layer kind without an export rule (the message names
    the layer's path and how to pass a rule); a torch module funcnn has no layer
    for (the message names it and its position). A missing optional package is
    an ``ImportError`` naming the ``pip install`` command instead.
    """
