"""PCA as a linear autoencoder: gradient descent finds the top principal subspace.

What it teaches (the report's derivation of PCA as an encoder ``z = x D`` and
a decoder ``x̂ = z Dᵀ`` with orthonormal columns ``D``):

* PCA keeps the ``k`` directions of largest variance: the top ``k`` right
  singular vectors of the centred data ``X = U S Vᵀ``. Among all rank-``k``
  linear reconstructions, projecting onto them has the least squared error,
  ``Σ_{i>k} s_i² / n`` per sample;
* a linear autoencoder ``x -> z = x W1 + b1 -> x̂ = z W2 + b2`` trained on the
  squared reconstruction error reaches that same error, and its decoder's
  rows span the same subspace. It need not find ``D`` itself (any invertible
  ``k x k`` mix of the code gives the same ``x̂``), so the subspaces are
  compared by their principal angles, computed from the singular values of
  ``Q1ᵀ Q2`` for orthonormal bases ``Q1, Q2`` (all angles 0 = same subspace);
* orthonormalising the learned decoder (a QR step) gives an orthonormal ``D``
  with the reconstruction PCA derives.

Protocol (``--seed``, default 0): 1,000 samples of an 8-dimensional Gaussian
with standard deviations 3, 2.5, 2, 1, 0.5, 0.3, 0.2, 0.1 along random
orthonormal axes, plus a mean; ``k = 3``. Full-batch Adam on
``MSE(reduction="batch_mean", half=True)`` (``½ ||x̂ - x||²`` per sample) for
3,000 epochs (1,500 with ``--quick``), its learning rate decaying from 0.02 to
0 on a cosine (a constant rate leaves Adam jittering around the subspace).

``--plot PATH`` draws the autoencoder's reconstruction error per epoch
against PCA's optimum, and the data in the plane of the first two principal
components with the learned decoder directions (orthonormalised) drawn in.

Usage::

    python examples/pca_autoencoder.py [--quick] [--seed 0] [--plot pca_autoencoder.png]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from _common import parser, pyplot, save_figure, table
from numpy.typing import NDArray

import funcnn as fn
from funcnn.optim import adam
from funcnn.rng import generator
from funcnn.schedules import cosine_schedule

F64 = NDArray[np.float64]
STDS = np.array([3.0, 2.5, 2.0, 1.0, 0.5, 0.3, 0.2, 0.1])
K = 3
MODEL = fn.Sequential(fn.Dense(K, name="encoder"), fn.Dense(len(STDS), name="decoder"))


@attrs.frozen
class Result:
    angles: tuple[float, ...]  # principal angles (radians) between the learned and the PCA subspaces
    pca_error: float  # the PCA reconstruction error (½ mean squared norm per sample)
    autoencoder_error: float
    epochs: int
    orthonormal_error: float  # max |Dᵀ D - I| of the orthonormalised decoder


def make_data(seed: int, n: int = 1000) -> F64:
    rng = generator(fn.fold_in(fn.key(seed), "data"))
    axes = np.linalg.qr(rng.normal(size=(len(STDS), len(STDS))))[0]
    x: F64 = rng.normal(size=(n, len(STDS))) * STDS @ axes.T + rng.normal(size=len(STDS))
    return x


def principal_angles(a: F64, b: F64) -> F64:
    """Angles between the column spaces of ``a: (d, k)`` and ``b: (d, k)``, smallest first."""
    qa, qb = np.linalg.qr(a)[0], np.linalg.qr(b)[0]
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)  # largest first
    # arccos alone loses small angles (cos θ ≈ 1 - θ²/2): pair each cosine with its sine, the
    # singular values of the part of b outside a (smallest first), and take atan2
    sines = np.linalg.svd(qb - qa @ (qa.T @ qb), compute_uv=False)[::-1]
    return np.asarray(np.arctan2(sines, cosines), dtype=np.float64)


def plot(path: Path, cost: F64, pca_error: float, centred: F64, pcs: F64, d: F64) -> None:
    """Left: the cost's excess over PCA per epoch. Right: the data on PC1, PC2 with the decoder's directions."""
    plt = pyplot()
    if plt is None:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.semilogy(np.arange(1, len(cost) + 1), cost - pca_error)
    left.set(xlabel="epoch", ylabel="autoencoder error − PCA error", title="reaching PCA's optimum")
    z = centred @ pcs[:, :2]
    right.scatter(z[:, 0], z[:, 1], s=3, color="0.6")
    for j in range(d.shape[1]):
        u = 4 * (pcs[:, :2].T @ d[:, j])  # decoder direction j, seen in the PC1-PC2 plane
        right.plot([0, u[0]], [0, u[1]], lw=2, label=f"decoder direction {j + 1}")
    right.set(xlabel="PC 1", ylabel="PC 2", title="the data and the learned directions", aspect="equal")
    right.legend(fontsize=8)
    save_figure(plt, fig, path)


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    x = make_data(args.seed)
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    pcs = vt[:K].T  # (d, k): the top principal directions
    pca_error = 0.5 * float(np.sum(s[K:] ** 2)) / len(x)

    epochs = 1500 if args.quick else 3000
    root = fn.key(args.seed)
    params = fn.init(MODEL, fn.fold_in(root, "init"), in_shape=(len(STDS),))
    state = fn.train(MODEL, params, x, x, loss=fn.MSE(reduction="batch_mean", half=True),
                     optimizer=adam(cosine_schedule(0.02, epochs)), epochs=epochs, key=root)  # fmt: skip
    decoder = np.asarray(fn.tree_get(state.params, "decoder/w")).T  # (d, k): the decoder's rows, as columns
    angles = principal_angles(decoder, pcs)
    ae_error = float(state.history.cost[-1])
    d, _ = np.linalg.qr(decoder)
    ortho = float(np.max(np.abs(d.T @ d - np.eye(K))))
    recon = centred @ d @ d.T
    pca_like = 0.5 * float(np.sum((recon - centred) ** 2)) / len(x)

    print(f"data: {len(x)} samples in {len(STDS)} dimensions, standard deviations {STDS.tolist()}; code size k = {K}")
    print(f"linear autoencoder {len(STDS)}-{K}-{len(STDS)}: {state.epoch} epochs of full-batch Adam")
    print(table(["", "½ mean ||x̂ - x||²"], [
        ["PCA (top 3 singular vectors)", f"{pca_error:.8f}"],
        ["linear autoencoder", f"{ae_error:.8f}"],
        ["decoder orthonormalised, x̂ = x D Dᵀ", f"{pca_like:.8f}"],
    ]))  # fmt: skip
    print("principal angles between the decoder's subspace and the PCA subspace (radians): "
          + ", ".join(f"{a:.2e}" for a in angles))  # fmt: skip
    print(f"orthonormalised decoder D: max |DᵀD - I| = {ortho:.1e}")
    if args.plot is not None:
        plot(args.plot, np.asarray(state.history.cost), pca_error, centred, pcs, d)
    return Result(tuple(float(a) for a in angles), pca_error, ae_error, state.epoch, ortho)


if __name__ == "__main__":
    main()
