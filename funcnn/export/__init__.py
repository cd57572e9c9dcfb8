"""Take a trained model elsewhere: ONNX, PyTorch, safetensors.

* :func:`to_onnx` / :func:`save_onnx`: an ONNX model (input ``x``, output ``y``,
  channels-last, dynamic batch), runnable with onnxruntime where funcnn is not
  installed; ``include_preprocessing=`` folds a fitted scaler into the graph.
* :func:`to_torch` / :func:`from_torch`: an equivalent ``torch.nn.Sequential``
  with the same weights, and back (bit-identical params).
* :func:`save_safetensors` / :func:`load_safetensors`: a params tree as a
  safetensors file (tensor names are tree paths), checked against a template.

The formats' packages are optional extras, imported only when a function needs
them: ``pip install 'funcnn[onnx]'`` (onnx, onnxruntime), ``pip install
'funcnn[safetensors]'``; PyTorch is installed by hand (see the docs).

Exporters find the rule for each layer in a registry keyed by the layer's
``kind`` (:data:`ONNX_RULES`, :data:`TORCH_RULES`); a custom layer kind gets a
rule through the ``rules=`` argument.
"""

from funcnn.export._common import Site
from funcnn.export.onnx import ONNX_RULES, OnnxGraph, OnnxRule, OnnxValue, save_onnx, to_onnx
from funcnn.export.safetensors import load_safetensors, save_safetensors
from funcnn.export.torch import TORCH_RULES, TorchRule, from_torch, to_torch

__all__ = [
    "ONNX_RULES",
    "TORCH_RULES",
    "OnnxGraph",
    "OnnxRule",
    "OnnxValue",
    "Site",
    "TorchRule",
    "from_torch",
    "load_safetensors",
    "save_onnx",
    "save_safetensors",
    "to_onnx",
    "to_torch",
]
