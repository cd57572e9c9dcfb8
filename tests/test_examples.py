"""Every example in ``examples/`` runs in its quick mode (the same code path) and gets something right.

The examples are scripts, not a package: each is loaded from its file (the
``example`` fixture of conftest.py) and its ``main(["--quick", ...])`` is called in-process; it prints its figures and
returns a small frozen result, which is checked here against facts computed
independently (closed forms, majority-class rates, the XOR truth table) or
against what the example teaches (a penalty lowers the test error, zero
initialisation learns nothing). The MNIST example reads a tiny IDX folder
written here, so no test needs the real MNIST files.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from idx_writer import write_fake_mnist, write_idx
from numpy.typing import NDArray

import funcnn as fn
from funcnn.rng import generator


def test_linear_regression_reaches_least_squares(example: Callable[[str], ModuleType]) -> None:
    ex = example("linear_regression")
    r = ex.main(["--quick"])
    x, t = ex.make_data(0)
    m, b = np.polyfit(x[:, 0], t[:, 0], 1)  # least squares computed independently
    assert r.ls_slope == pytest.approx(m, abs=1e-10) and r.ls_intercept == pytest.approx(b, abs=1e-10)
    assert abs(m - 2.0) < 0.05 and abs(b - 1.0) < 0.05  # the data were drawn from y = 2x + 1
    assert abs(r.slope - m) < 1e-6 and abs(r.intercept - b) < 1e-6
    assert r.mse == pytest.approx(float(np.mean((m * x[:, 0] + b - t[:, 0]) ** 2)), rel=1e-6)
    assert r.by_hand_is_train and r.params_untouched and r.replay_identical
    errors = dict(r.study)
    assert r.epoch_counts == (1, 10, 100)
    assert errors[0.1][-1] == pytest.approx(r.ls_mse, rel=1e-3)  # a good rate arrives
    assert errors[0.001][-1] > 10 * r.ls_mse  # a tiny rate is still far away
    assert errors[1.1][-1] > 1e3 * errors[1.1][0]  # too large: diverges


def test_gradient_descent_variants_agree_with_the_normal_equation(example: Callable[[str], ModuleType]) -> None:
    r = example("gradient_descent_variants").main(["--quick"])
    methods = {m.name.split(",")[0]: m for m in r.methods}
    exact = methods["normal equation"]
    assert (exact.intercept, exact.slope) == pytest.approx((5.0, 7.0), abs=0.5)  # y = 5 + 7x + noise
    pinv = methods["pseudo-inverse"]
    assert (pinv.intercept, pinv.slope) == pytest.approx((exact.intercept, exact.slope), abs=1e-10)
    assert r.gradient_matches_formula
    batch, sgd, mini = methods["batch GD"], methods["stochastic GD"], methods["mini-batch GD (20)"]
    assert (batch.intercept, batch.slope) == pytest.approx((exact.intercept, exact.slope), abs=1e-4)
    for m in (sgd, mini):
        assert (m.intercept, m.slope) == pytest.approx((exact.intercept, exact.slope), abs=0.1)
        assert m.mse < 1.01 * exact.mse + 0.01
    assert (batch.steps, sgd.steps, mini.steps) == (300, 20 * 100, 20 * 100 // 20)  # 100 points


def test_logistic_regression_classifies_breast_cancer(example: Callable[[str], ModuleType]) -> None:
    r = example("logistic_regression").main(["--quick"])
    confusion = np.array(r.confusion)
    assert confusion.sum() == 114 and confusion.sum(axis=1).tolist() == [42, 72]  # stratified 20% of 212 / 357
    assert r.test_accuracy == pytest.approx(np.trace(confusion) / 114)
    assert r.test_accuracy > 0.93 and r.train_accuracy > 0.95
    assert min(r.f1) > 0.9
    assert r.gradient_matches_formula and r.params_untouched


def test_deep_network_zero_init_fails_and_random_init_learns(example: Callable[[str], ModuleType]) -> None:
    r = example("deep_network").main(["--quick"])
    assert r.by_hand_is_library
    by = {o.init: o for o in r.outcomes}
    zeros = by["zeros"]
    assert zeros.first_grad_norm == 0.0 and zeros.distinct_units == 1
    assert zeros.test_accuracy == pytest.approx(r.majority_share)  # only the output bias learns
    assert by["constant 0.1"].distinct_units == 1  # symmetric units stay copies
    for name in ("0.1 * randn", "He normal"):
        assert by[name].distinct_units == 20
        assert by[name].test_accuracy > 0.9
        assert by[name].final_cost < 0.5 * by[name].first_cost
    assert by["0.01 * randn"].first_grad_norm < 1e-3 * by["He normal"].first_grad_norm  # vanishing signal


def test_xor_outputs_are_on_the_right_side(example: Callable[[str], ModuleType]) -> None:
    r = example("xor").main(["--quick"])
    truth = [0, 1, 1, 0]
    for outputs in (r.sample_by_sample, r.full_batch):
        assert [int(y > 0.5) for y in outputs] == truth
    assert r.final_error < 0.01
    assert r.hand_loop_is_train and r.params_untouched


def test_spiral_needs_hidden_layers(example: Callable[[str], ModuleType]) -> None:
    r = example("spiral_softmax").main(["--quick"])
    assert r.fused_gradient_matches
    assert r.test_accuracy > 0.9 and r.train_accuracy > 0.9
    assert r.linear_test_accuracy < 0.7  # a linear classifier cannot separate the arms
    assert r.final_cost < 0.25 * r.first_cost


def test_regularisation_tames_overfitting(example: Callable[[str], ModuleType]) -> None:
    r = example("regularisation").main(["--quick"])
    plain = r.fit("no penalty")
    assert plain.train_mse < 0.8 < 1.5 < plain.test_mse  # below the noise level on training data, poor on new data
    for name in ("ridge (l2)", "lasso (l1)", "elastic net", "early stopping"):
        fit = r.fit(name)
        assert fit.test_mse < plain.test_mse
        assert fit.train_mse > plain.train_mse  # the price: a worse fit of the training points
    assert r.fit("lasso (l1)").nonzero_weights < 10
    assert r.fit("early stopping").epochs < 1500
    assert r.ridge_vs_closed_form < 1e-6
    assert r.sizes == (10, 40, 160)
    poly_gap = [val - train for train, val in r.poly_curve]
    assert poly_gap[0] > 5 * poly_gap[-1] > 0  # the over-fitting gap closes with more data
    assert r.line_curve[-1][0] > 2 * r.poly_curve[-1][0]  # the line under-fits even with 160 points


def test_digits_mlp_and_report(example: Callable[[str], ModuleType]) -> None:
    r = example("digits").main(["--quick"])
    assert (r.n_train, r.n_test) == (1438, 359)
    confusion = np.array(r.confusion)
    assert confusion.shape == (10, 10) and confusion.sum() == 359
    assert confusion.sum(axis=1).min() >= 35  # stratified: 35-37 test images per digit
    assert r.test_accuracy == pytest.approx(np.trace(confusion) / 359)
    assert r.test_accuracy > 0.93 and min(r.f1) > 0.8
    assert r.macro_f1 == pytest.approx(float(np.mean(r.f1)))
    assert r.cv_accuracies == ()


def test_checkpoint_resume_is_bit_exact_and_replays(example: Callable[[str], ModuleType], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    r = example("checkpoint_replay").main(["--quick", "--run-dir", str(run_dir)])
    assert r.resumed_equals_straight and r.reloaded_equals_saved
    assert r.saved_epochs == r.epochs == (2, 4)
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.npz", "epoch-0002.npz", "epoch-0004.npz",
                                                        "final.npz"]  # fmt: skip
    assert r.test_cost[1] < r.test_cost[0] and r.test_accuracy[1] > r.test_accuracy[0]
    assert all(np.isfinite(r.train_cost))


def _easy_mnist(folder: Path, n: int) -> NDArray[np.int64]:
    """``n`` MNIST-shaped images of an easy task: digit k lights a 7x7 block in one of ten places."""
    g = generator(fn.key(3))
    labels = g.integers(0, 10, size=n)
    images = g.integers(0, 30, size=(n, 28, 28)).astype(np.uint8)  # faint noise
    for i, k in enumerate(labels):
        r, c = 7 * (k // 4), 7 * (k % 4)
        images[i, r : r + 7, c : c + 7] = 255
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return labels


def test_mnist_mlp_quick_on_a_tiny_idx_folder(example: Callable[[str], ModuleType], tmp_path: Path) -> None:
    images, labels = write_fake_mnist(tmp_path / "fake", n=400)
    r = example("mnist_mlp").main([str(tmp_path / "fake"), "--quick"])
    assert (r.n_train, r.n_test) == (256, 64)
    assert len(r.modern_accuracies) == 1 and r.modern_std == 0.0
    assert 0.0 <= r.classic_accuracy <= 1.0 and len(r.modern_costs) == 1
    # the split is the first 256 and the last 64 images
    ex = example("mnist_mlp")
    x, y, x_test, y_test = ex.load_split(tmp_path / "fake", 256, 64)
    assert np.array_equal(y, labels[:256]) and np.array_equal(y_test, labels[-64:])
    assert np.array_equal(x_test[5], images[-64 + 5].reshape(784) / np.float32(255))


def test_mnist_mlp_learns_an_easy_task(example: Callable[[str], ModuleType], tmp_path: Path) -> None:
    _easy_mnist(tmp_path / "easy", 400)
    r = example("mnist_mlp").main([str(tmp_path / "easy"), "--quick", "--epochs", "8", "--seeds", "1", "2"])
    assert min(r.modern_accuracies) > 0.9
    assert r.modern_mean == pytest.approx(float(np.mean(r.modern_accuracies)))
    assert r.modern_costs[-1] < 0.5 * r.modern_costs[0]


def test_mnist_mlp_needs_enough_images(example: Callable[[str], ModuleType], tmp_path: Path) -> None:
    write_fake_mnist(tmp_path / "small", n=100)
    with pytest.raises(SystemExit, match="100 images, fewer than --train 256 \\+ --test 64"):
        example("mnist_mlp").main([str(tmp_path / "small"), "--quick"])


def test_plots_are_optional(
    example: Callable[[str], ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "fit.png"
    example("linear_regression").main(["--quick", "--plot", str(target)])
    out = capsys.readouterr().out
    if importlib.util.find_spec("matplotlib") is None:
        assert 'pip install "funcnn[plot]"' in out and not target.exists()
    else:
        assert target.stat().st_size > 1000 and f"plot written to {target}" in out


def test_no_example_writes_files_by_default(
    example: Callable[[str], ModuleType], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    example("gradient_descent_variants").main(["--quick"])
    example("checkpoint_replay").main(["--quick"])  # its run folder is a temporary directory
    assert list(tmp_path.iterdir()) == []



# --- the classic material (issue 15) --------------------------------------------------------------


def test_mnist_mlp_classic_recipe(example: Callable[[str], ModuleType], tmp_path: Path) -> None:
    _easy_mnist(tmp_path / "easy", 400)
    ex = example("mnist_mlp")
    r = ex.main([str(tmp_path / "easy"), "--recipe", "classic", "--quick"])
    assert (r.n_train, r.n_test) == (256, 64) and len(r.train_error) == len(r.test_error_rate) == 2
    assert r.final_accuracy == pytest.approx(1 - r.test_error_rate[-1])
    assert [type(s).__name__ for s in ex.REPORT.layers] == ["Dense", "Tanh"] * 3
    assert ex.REPORT.layers[0].w_init == ex.Uniform(-0.5, 0.5) and ex.REPORT.layers[0].b_init == ex.Uniform(-0.5, 0.5)


def test_same_number_moves_along_one_direction(example: Callable[[str], ModuleType]) -> None:
    r = example("same_number").main(["--quick"])
    ratios = np.array(r.errors[1:]) / np.array(r.errors[:-1])
    np.testing.assert_allclose(ratios, abs(r.shrink), rtol=1e-9)  # |y - t| halves at every step (lr 0.1, x = 2)
    assert r.on_the_line  # every start ends on m x + b = t ...
    assert len({round(b, 3) for b in r.predictions_at_zero}) == 3  # ... at a different point of that line
    for m, b in r.two_points:  # two distinct inputs pin the line down
        assert (m, b) == pytest.approx((3.0, -1.0), abs=1e-6)


def test_linear_depth_collapses_and_cannot_fit_xor(example: Callable[[str], ModuleType]) -> None:
    r = example("linear_depth").main(["--quick"])
    assert r.collapse_error < 1e-12
    assert r.least_squares_mse == pytest.approx(0.25) and r.linear_mse == pytest.approx(0.25, abs=1e-3)
    assert r.nonlinear_mse < 1e-3
    assert [round(v) for v in r.nonlinear_outputs] == [0, 1, 1, 0]


def test_pca_autoencoder_finds_the_principal_subspace(example: Callable[[str], ModuleType]) -> None:
    r = example("pca_autoencoder").main(["--quick"])
    assert max(r.angles) < 1e-3  # radians
    assert r.pca_error <= r.autoencoder_error < 1.01 * r.pca_error  # PCA is the optimum; the autoencoder nears it
    assert r.orthonormal_error < 1e-12


def test_early_stopping_recipe(example: Callable[[str], ModuleType]) -> None:
    r = example("early_stopping").main(["--quick"])
    assert r.default_is_half_at_double_lr  # MSE() at lr is MSE(half=True) at 2 lr, bit for bit
    assert not r.recipe.diverged and len(r.recipe.val_mse) == 60
    assert r.recipe.best_mse == min(r.recipe.val_mse) < r.recipe.val_mse[0] / 2
    assert r.patience_best <= r.patience_epoch and r.patience_params_are_best


def test_regularisation_proximal_lasso_has_exact_zeros(example: Callable[[str], ModuleType]) -> None:
    r = example("regularisation").main(["--quick"])
    prox, sub = r.fit("lasso (proximal)"), r.fit("lasso (l1)")
    assert prox.exact_zeros > 0 and sub.exact_zeros == 0
    assert prox.test_mse < r.fit("no penalty").test_mse
    assert r.path_zero_step is not None and r.path_zero_held


@pytest.mark.parametrize(
    "name",
    ["gradient_descent_variants", "regularisation", "early_stopping", "same_number", "linear_depth", "pca_autoencoder"],
)
def test_material_figures_are_written(example: Callable[[str], ModuleType], tmp_path: Path, name: str) -> None:
    pytest.importorskip("matplotlib", reason="the figures need matplotlib (pip install 'funcnn[plot]')")
    target = tmp_path / f"{name}.png"
    example(name).main(["--quick", "--plot", str(target)])
    assert target.stat().st_size > 10_000
