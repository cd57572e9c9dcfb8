"""PyTorch round trip: ``to_torch`` computes what ``fn.predict`` does; ``from_torch`` inverts it exactly."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np
import pytest
from cases import CASES, Case, case_id, make_input
from numpy.typing import NDArray

import funcnn as fn
from funcnn.errors import ExportError
from funcnn.export import from_torch, to_torch

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip(
        "torch", reason="PyTorch is not installed (funcnn never depends on it and CI does not install it)"
    )

RTOL = {np.float32: 1e-5, np.float64: 1e-10}


def to_nchw(x: NDArray[np.floating]) -> NDArray[np.floating]:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x


def run_torch(module: torch.nn.Module, x: NDArray[np.floating]) -> NDArray[np.floating]:
    with torch.inference_mode():
        y = module(torch.from_numpy(to_nchw(x).copy())).numpy()
    assert isinstance(y, np.ndarray)
    return np.ascontiguousarray(y.transpose(0, 2, 3, 1)) if y.ndim == 4 else y


def relative_error(got: NDArray[np.floating], want: NDArray[np.float32] | NDArray[np.float64]) -> float:
    assert got.shape == want.shape and got.dtype == want.dtype
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))


def ends_with_flattened_image(case: Case) -> bool:
    return isinstance(case.spec, fn.Flatten) and len(case.in_shape) == 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_case_matches_predict_and_round_trips(case: Case, dtype: type[np.floating], key: fn.Key) -> None:
    # from_torch returns a Sequential: a single layer is compared inside one.
    spec = case.spec if isinstance(case.spec, fn.Sequential) else fn.Sequential(case.spec)
    params = fn.init(spec, fn.fold_in(key, "params"), in_shape=case.in_shape, dtype=dtype)
    if ends_with_flattened_image(case):
        with pytest.raises(ExportError, match="ends with a flattened image"):
            to_torch(spec, params, case.in_shape)
        return
    x = make_input(case, fn.fold_in(key, "x"), 4, dtype)
    module = to_torch(spec, params, case.in_shape)
    assert not module.training
    err = relative_error(run_torch(module, x), fn.predict(spec, params, x))
    assert err <= RTOL[dtype]
    model, back = from_torch(module, case.in_shape)
    assert fn.tree_equal(back, params)  # type: ignore[misc]  # bit for bit, same paths and dtypes
    assert np.array_equal(fn.predict(model, back, x), fn.predict(spec, params, x))


@pytest.mark.parametrize(("layer", "in_shape"), [
    (fn.Conv2D(2, 2, padding="same"), (5, 4, 3)),
    (fn.Conv2D(2, 3, stride=2, padding="same"), (7, 6, 1)),
    (fn.Conv2D(4, (2, 3), stride=(1, 2), padding=1), (6, 7, 2)),
    (fn.MaxPool2D((2, 3), stride=(1, 2)), (6, 7, 1)),
    (fn.AvgPool2D(3, stride=1), (5, 6, 2)),
], ids=repr)
def test_geometries_in_a_cnn(layer: fn.Layer, in_shape: tuple[int, ...], key: fn.Key) -> None:
    model = fn.Sequential(layer, fn.ReLU(), fn.Flatten(), fn.Dense(3), fn.Softmax())
    params = fn.init(model, key, in_shape=in_shape)
    x = make_input(Case(model, in_shape), key, 3)
    module = to_torch(model, params, in_shape)
    assert relative_error(run_torch(module, x), fn.predict(model, params, x)) <= 1e-10
    model2, back = from_torch(module, in_shape)
    assert model2 == model and fn.tree_equal(back, params)  # type: ignore[misc]


def test_state_dict_keys_follow_funcnn_paths(key: fn.Key) -> None:
    model = fn.Sequential(fn.Dense(3), fn.ReLU(), fn.Sequential(fn.Dense(2), name="head"))
    params = fn.init(model, key, in_shape=(4,))
    keys = sorted(to_torch(model, params, (4,)).state_dict())
    assert keys == ["dense_0.bias", "dense_0.weight", "head.dense_0.bias", "head.dense_0.weight"]


def test_to_torch_does_not_touch_torch_rng(key: fn.Key) -> None:
    model = fn.Sequential(fn.Conv2D(2, 3), fn.Flatten(), fn.Dense(2))
    params = fn.init(model, key, in_shape=(4, 4, 1))
    before = torch.get_rng_state()
    to_torch(model, params, (4, 4, 1))
    assert torch.equal(before, torch.get_rng_state())


def test_from_torch_reads_a_hand_written_torch_cnn(key: fn.Key) -> None:
    torch.manual_seed(0)  # torch's own init for a model "trained elsewhere"
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 5), torch.nn.Softmax(dim=1),
    )
    model, params = from_torch(net, (6, 6, 1))
    assert model == fn.Sequential(fn.Conv2D(4, 3, padding=1), fn.ReLU(), fn.MaxPool2D(2), fn.Flatten(), fn.Dense(5),
                                  fn.Softmax())
    x = fn.rng.generator(key).standard_normal((3, 6, 6, 1)).astype(np.float32)
    assert relative_error(fn.predict(model, params, x), run_torch(net, x)) <= 1e-5  # type: ignore[arg-type]


def test_from_torch_names_unsupported_modules_and_positions() -> None:
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
        torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU()),
    )
    with pytest.raises(ExportError, match=r"position 1 \(1\): BatchNorm2d.*position 1 \(3\.1\): GELU"):
        from_torch(net, (3, 3, 1))
    with pytest.raises(ExportError, match="dilation"):
        from_torch(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, dilation=2)), (6, 6, 1))


def test_from_torch_shape_errors(key: fn.Key) -> None:
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    with pytest.raises(fn.ShapeError, match="position 0"):
        from_torch(net, (4,))


def test_to_torch_checks_params(key: fn.Key) -> None:
    model = fn.Dense(2)
    params = fn.init(model, key, in_shape=(3,))
    with pytest.raises(fn.TreeStructureError, match="to_torch"):
        to_torch(model, params, (4,))


def test_missing_torch_names_the_install_command(key: fn.Key, monkeypatch: pytest.MonkeyPatch) -> None:
    model = fn.Dense(2)
    params = fn.init(model, key, in_shape=(3,))
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="pip install torch"):
        to_torch(model, params, (3,))
