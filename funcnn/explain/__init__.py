"""Look inside a trained network: activations, saliency, deconvnet, guided backprop, occlusion, feature visualisation.

Every function here is pure and batched: inputs are never changed, results
are read-only arrays in the params' dtype (float32 stays float32), and the
randomness of :func:`maximize` comes only from its key. The backward-pass
methods reuse each layer's own hand-written backward; only the rule at
``ReLU`` changes:

==================  ==================================================
method              ReLU passes back
==================  ==================================================
``saliency``        ``dy * [x > 0]`` (the gradient)
``deconvnet``       ``max(dy, 0)`` (Zeiler & Fergus)
``guided_backprop`` ``dy * [x > 0] * [dy > 0]`` (Springenberg et al.)
==================  ==================================================

Models are any ``Sequential`` built from funcnn's layers (``Dense``, the
activations, ``Softmax``, ``Dropout`` in inference mode, ``Flatten``,
``Conv2D``, ``MaxPool2D``, ``AvgPool2D``), nested stacks included; layers are
named by path, as in :func:`activations` (``"conv2d_1"``, ``"head/dense_0"``).
"""

from funcnn.explain._trace import receptive_field
from funcnn.explain.features import TopActivations, activations, maximize, top_activations
from funcnn.explain.gradients import deconvnet, guided_backprop, project, saliency
from funcnn.explain.perturbation import occlusion, window_starts

__all__ = [
    "TopActivations",
    "activations",
    "deconvnet",
    "guided_backprop",
    "maximize",
    "occlusion",
    "project",
    "receptive_field",
    "saliency",
    "top_activations",
    "window_starts",
]
