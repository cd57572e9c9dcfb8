"""2-D convolution on channels-last images ``(batch, height, width, channels)``.

The layer is a cross-correlation (like every deep-learning library's "conv"):
local receptive fields of ``kh × kw`` pixels, one kernel shared by every
position, optionally subsampled by a stride. It is computed with *im2col*:
every receptive field is copied once into a row of a matrix, so the forward
pass and the weight gradient are each a single matrix product.
"""

from __future__ import annotations

from typing import ClassVar

import attrs
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from funcnn._spec import short_repr
from funcnn._typing import Array, FloatT, Shape
from funcnn.initializers import HeNormal, Initializer, Zeros
from funcnn.layers.base import cache_of, fresh, init_leaves, no_dx, shape_error
from funcnn.rng import Key
from funcnn.tree import FrozenTree

__all__ = ["Conv2D", "conv_output_size", "conv_padding"]


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``5 -> (5, 5)``; a pair (tuple or list, e.g. from JSON) is kept as a tuple."""
    if isinstance(value, bool):
        raise TypeError(f"expected an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(f"expected an int or a pair of ints, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise TypeError(f"expected an int or a pair of ints, got {value!r}")
    return (value[0], value[1])


def _positive_pair(instance: object, attribute: attrs.Attribute[tuple[int, int]], value: tuple[int, int]) -> None:
    if min(value) < 1:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be >= 1, got {attribute.name}={value}")


def _check_padding(instance: object, attribute: object, value: str | int) -> None:
    if isinstance(value, str):
        if value not in ("valid", "same"):
            raise ValueError(f"{type(instance).__name__}: padding must be 'valid', 'same' or an int >= 0, "
                             f"got padding={value!r}")
    elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{type(instance).__name__}: padding must be 'valid', 'same' or an int >= 0, "
                         f"got padding={value!r}")


def conv_padding(size: int, kernel: int, stride: int, padding: str | int) -> tuple[int, int]:
    """Zeros added ``(before, after)`` along one spatial axis of length ``size``.

    ``"valid"`` adds none; an int ``p`` adds ``p`` on both sides; ``"same"``
    adds the fewest zeros so that the output has ``ceil(size / stride)``
    positions (``size`` itself at stride 1), the odd one after (at the bottom
    or right), as TensorFlow does.

    >>> conv_padding(28, 5, 1, "same"), conv_padding(28, 5, 2, "same"), conv_padding(28, 5, 1, 1)
    ((2, 2), (1, 2), (1, 1))
    """
    if padding == "valid":
        return 0, 0
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2
    p = int(padding)
    return p, p


def conv_output_size(size: int, kernel: int, stride: int, padding: str | int) -> int:
    """Output positions along one axis: ``(size + pads - kernel) // stride + 1`` (< 1 if none fit)."""
    before, after = conv_padding(size, kernel, stride, padding)
    return (size + before + after - kernel) // stride + 1


@attrs.frozen(repr=False)
class Conv2D:
    """2-D convolution (cross-correlation) with params ``w: (kh, kw, c_in, c_out)`` and ``b: (c_out,)``.

    Forward, for ``x: (batch, h, w, c_in)`` padded to ``xp``:
    ``y[n, i, j, o] = b[o] + Σ_{a, b, c} xp[n, i·s + a, j·s + b, c] · w[a, b, c, o]``.
    As matrices: ``y = cols @ w2 + b`` with ``cols: (batch·oh·ow, kh·kw·c_in)``
    the receptive fields and ``w2 = w.reshape(kh·kw·c_in, c_out)``.
    Backward: ``dw = colsᵀ @ dy``, ``db = Σ dy``, and ``dx`` adds each field's
    share ``dy @ w2ᵀ`` back onto the pixels it was copied from (col2im).

    Args:
        out_channels: ``c_out``, the number of kernels (feature maps).
        kernel_size: ``kh = kw = k`` for an int, or a pair ``(kh, kw)``.
        stride: the step between receptive fields, an int or a pair.
        padding: ``"valid"`` (no padding: ``oh = (h - kh) // s + 1``),
            ``"same"`` (``oh = ceil(h / s)``, so ``h`` itself at stride 1; the
            odd zero goes to the bottom/right) or an int ``p`` of zeros on
            every side (``oh = (h + 2p - kh) // s + 1``).
        w_init: defaults to He normal, ``N(0, 2 / (kh·kw·c_in))``: a
            convolution is nearly always followed by a ReLU, which zeroes half
            of its inputs, and He's factor 2 keeps the activations' variance
            from shrinking layer after layer (Glorot's assumes a linear unit).
        b_init: defaults to zeros.
        name: an explicit layer name.

    >>> import numpy as np, funcnn as fn
    >>> conv = Conv2D(8, 3, padding="same")
    >>> params = fn.init(conv, fn.key(0), in_shape=(28, 28, 1), dtype=np.float32)
    >>> fn.output_shape(conv, (28, 28, 1)), params["w"].shape
    ((28, 28, 8), (3, 3, 1, 8))
    >>> fn.forward(conv, params, np.zeros((2, 28, 28, 1)))[0].shape
    (2, 28, 28, 8)
    """

    __repr__ = short_repr

    kind: ClassVar[str] = "conv2d"
    uses_key: ClassVar[bool] = False

    out_channels: int = attrs.field(validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)])
    kernel_size: tuple[int, int] = attrs.field(converter=_pair, validator=_positive_pair)
    stride: tuple[int, int] = attrs.field(default=(1, 1), converter=_pair, validator=_positive_pair)
    padding: str | int = attrs.field(default="valid", validator=_check_padding)
    w_init: Initializer = attrs.field(factory=HeNormal, kw_only=True)
    b_init: Initializer = attrs.field(factory=Zeros, kw_only=True)
    name: str | None = attrs.field(default=None, kw_only=True)

    def _geometry(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int], int, int]:
        """``((top, bottom), (left, right), oh, ow)`` for an ``h × w`` input."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        pad_h = conv_padding(h, kh, sh, self.padding)
        pad_w = conv_padding(w, kw, sw, self.padding)
        oh = (h + sum(pad_h) - kh) // sh + 1
        ow = (w + sum(pad_w) - kw) // sw + 1
        return pad_h, pad_w, oh, ow

    def _check_fits(self, in_shape: Shape) -> tuple[tuple[int, int], tuple[int, int], int, int]:
        h, w = in_shape[0], in_shape[1]
        pad_h, pad_w, oh, ow = self._geometry(h, w)
        if oh < 1 or ow < 1:
            padded = (h + sum(pad_h), w + sum(pad_w))
            raise shape_error(
                self,
                f"a padded input at least as large as the kernel {self.kernel_size}",
                in_shape,
                f"padded to {padded} by padding={self.padding!r}; use a smaller kernel or more padding",
            )
        return pad_h, pad_w, oh, ow

    def shapes(self, in_shape: Shape) -> tuple[Shape, dict[str, Shape]]:
        """``(out_shape, {leaf: shape})``: the shape rule of :meth:`init`, without arrays."""
        if len(in_shape) != 3:
            raise shape_error(self, "an image shape (height, width, channels)", in_shape,
                              "images are channels-last: reshape (n, 784) MNIST rows to (n, 28, 28, 1)")
        _, _, oh, ow = self._check_fits(in_shape)
        kh, kw = self.kernel_size
        return (oh, ow, self.out_channels), {"w": (kh, kw, in_shape[2], self.out_channels), "b": (self.out_channels,)}

    def init(self, key: Key, in_shape: Shape, dtype: type[FloatT]) -> tuple[Shape, FrozenTree[FloatT]]:
        return init_leaves(self, key, in_shape, dtype)  # w then b, each by its initializer

    def forward(
        self, params: FrozenTree[FloatT], x: Array[FloatT], *, key: Key | None = None, train: bool = False
    ) -> tuple[Array[FloatT], FrozenTree[FloatT]]:
        w, b = params.leaf("w"), params.leaf("b")
        kh, kw, c_in, c_out = w.shape
        if x.ndim != 4 or x.shape[3] != c_in:
            raise shape_error(self, f"input (batch, height, width, {c_in})", x.shape)
        pad_h, pad_w, oh, ow = self._check_fits(x.shape[1:])
        xp = _pad(x, pad_h, pad_w)
        n = x.shape[0]
        w2 = w.reshape(kh * kw * c_in, c_out)
        # Receptive fields as a view (batch, oh, ow, c_in, kh, kw): no copy yet.
        fields = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, :: self.stride[0], :: self.stride[1]]
        if c_in == 1:
            # One channel: copy the fields transposed, (kh·kw, batch·oh·ow), so
            # each copied run is a whole image row rather than kw pixels.
            cols_t = fields.transpose(4, 5, 3, 0, 1, 2).reshape(kh * kw * c_in, n * oh * ow)
            y = cols_t.T @ w2  # (batch·oh·ow, kh·kw·c_in) @ (kh·kw·c_in, c_out)
            cache = cache_of(cols_t=cols_t, x_shape=_shape_marker(x))
        else:
            # Columns ordered (a, b, c) so each copied run is kw·c_in contiguous floats.
            cols = fields.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c_in)
            y = cols @ w2  # (batch·oh·ow, kh·kw·c_in) @ (kh·kw·c_in, c_out)
            cache = cache_of(cols=cols, x_shape=_shape_marker(x))
        # Add b to rows of ow·c_out values (b tiled ow times): far fewer, longer
        # inner loops for numpy than broadcasting b over rows of only c_out.
        y.reshape(n * oh, ow * c_out)[...] += np.tile(b, ow)
        return fresh(y.reshape(n, oh, ow, c_out)), cache

    def backward(
        self, params: FrozenTree[FloatT], cache: FrozenTree[FloatT], dy: Array[FloatT], *, need_dx: bool = True
    ) -> tuple[FrozenTree[FloatT], Array[FloatT]]:
        w = params.leaf("w")
        kh, kw, c_in, c_out = w.shape
        x_shape = cache.leaf("x_shape").shape[1:]
        n, h, w_in = x_shape[0], x_shape[1], x_shape[2]
        pad_h, pad_w, oh, ow = self._geometry(h, w_in)
        if dy.shape != (n, oh, ow, c_out):
            raise shape_error(self, f"dy of shape {(n, oh, ow, c_out)}", dy.shape)
        dy2 = dy.reshape(n * oh * ow, c_out)
        if "cols_t" in cache:
            dw = cache.leaf("cols_t") @ dy2  # (kh·kw·c_in, batch·oh·ow) @ (batch·oh·ow, c_out)
        else:
            dw = cache.leaf("cols").T @ dy2  # (kh·kw·c_in, batch·oh·ow) @ (batch·oh·ow, c_out)
        # Σ over batch and pixels in two steps over long rows (np.sum(dy2, axis=0)
        # on a (many, c_out) array is several times slower).
        db = np.sum(dy.reshape(n * oh, ow * c_out), axis=0).reshape(ow, c_out).sum(axis=0)  # (c_out,)
        grads: FrozenTree[FloatT] = FrozenTree({"w": fresh(dw.reshape(w.shape)), "b": fresh(db)})
        if not need_dx:  # the first layer's dx is never used in training: skip its product and col2im
            return grads, no_dx(dy)
        # col2im: the fields' gradients dy @ w2ᵀ, one kernel offset (a, b) at a
        # time, offsets in row-major order. Offset (a, b)'s block dy @ w[a, b]ᵀ,
        # (batch·oh·ow, c_out) @ (c_out, c_in), is written into one reused buffer
        # and added at once onto the pixels its fields were copied from, while
        # it is still in cache; so each pixel of dx sums its blocks, starting
        # from zero, in row-major offset order. One product over all offsets,
        # dy @ w2ᵀ, would be fewer and faster BLAS calls, but BLAS's order of
        # summation over c_out depends on the matrices' shapes, so its float32
        # results differ in the last bits: each block is this exact product.
        (sh, sw), (top, left) = self.stride, (pad_h[0], pad_w[0])
        dxp = np.zeros((n, h + sum(pad_h), w_in + sum(pad_w), c_in), dtype=dy.dtype)
        block = np.empty((n * oh * ow, c_in), dtype=np.result_type(dy, w))
        for a in range(kh):
            rows = slice(a, a + sh * (oh - 1) + 1, sh)
            for b in range(kw):
                np.matmul(dy2, w[a, b].T, out=block)  # (batch·oh·ow, c_out) @ (c_out, c_in)
                dxp[:, rows, b : b + sw * (ow - 1) + 1 : sw] += block.reshape(n, oh, ow, c_in)
        dx = dxp[:, top : top + h, left : left + w_in] if sum(pad_h) + sum(pad_w) else dxp
        return grads, fresh(dx)


def _pad(x: Array[FloatT], pad_h: tuple[int, int], pad_w: tuple[int, int]) -> Array[FloatT]:
    """``x`` with zeros around its spatial axes (``x`` itself when there is no padding)."""
    if not (sum(pad_h) or sum(pad_w)):
        return x
    n, h, w, c = x.shape
    xp = np.zeros((n, h + sum(pad_h), w + sum(pad_w), c), dtype=x.dtype)
    xp[:, pad_h[0] : pad_h[0] + h, pad_w[0] : pad_w[0] + w] = x
    return xp


def _shape_marker(x: Array[FloatT]) -> Array[FloatT]:
    # A zero-size array whose shape after the leading 0 is x's shape: the cache
    # stays a tree of arrays without holding x's data.
    return fresh(np.empty((0, *x.shape), dtype=x.dtype))

