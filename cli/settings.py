"""The settings of ``funcnn train``: options as given, filled in from defaults or a run's config.json.

Every option that shapes a run is ``None`` on the command line unless given. A
new run fills in :data:`cli.options.DEFAULTS`; a resumed run takes what is not
given from its ``config.json`` and must agree with it on everything else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cli.errors import usage_error
from cli.options import DEFAULT_LR, DEFAULTS, TrainArgs, parse_batch_size, parse_hidden

__all__ = ["differences", "given_settings", "resolve_settings"]

# Settings that may change when a run is resumed: they do not change its results.
_RESUMABLE = frozenset({"epochs", "checkpoint_every", "data", "label_column"})
# Parts of config.json that must be equal for a run to be resumed.
_SECTIONS = ("data", "split", "preprocess", "model", "in_shape", "loss", "optimizer", "metrics")


def _finite_at_least(option: str, value: float, low: float, *, strict: bool, example: str) -> float:
    ok = math.isfinite(value) and (value > low if strict else value >= low)
    if not ok:
        relation = ">" if strict else ">="
        raise usage_error(option, f"must be a number {relation} {low:g}, got {value:g}; for example {option} {example}")
    return float(value)


def given_settings(a: TrainArgs) -> dict[str, Any]:
    """The settings given on the command line, checked (usage errors) and in their stored form."""
    g: dict[str, Any] = {}
    if a.data is not None:
        g["data"] = a.data
    if a.label_column is not None:
        g["label_column"] = a.label_column
    if a.val_split is not None:
        if not (math.isfinite(a.val_split) and 0.0 <= a.val_split < 1.0):
            raise usage_error("--val-split", f"must be in [0, 1), got {a.val_split:g}; 0 turns validation off")
        g["val_split"] = float(a.val_split)
    if a.scale is not None:
        g["scale"] = a.scale.value
    if a.seed is not None:
        g["seed"] = a.seed
    if a.model_file is not None:
        g["model_file"] = str(a.model_file)
    if a.hidden is not None:
        g["hidden"] = parse_hidden(a.hidden)
    if a.activation is not None:
        g["activation"] = a.activation.value
    if a.dropout is not None:
        if not (math.isfinite(a.dropout) and 0.0 <= a.dropout < 1.0):
            raise usage_error("--dropout", f"must be in [0, 1), got {a.dropout:g}; for example --dropout 0.2")
        g["dropout"] = float(a.dropout)
    if a.loss is not None:
        g["loss"] = a.loss.value
    if a.optimizer is not None:
        g["optimizer"] = a.optimizer.value
    if a.lr is not None:
        g["lr"] = _finite_at_least("--lr", a.lr, 0.0, strict=True, example="0.01")
    if a.lr_decay is not None:
        g["lr_decay"] = _finite_at_least("--lr-decay", a.lr_decay, 0.0, strict=False, example="0.001")
    if a.l2 is not None:
        g["l2"] = _finite_at_least("--l2", a.l2, 0.0, strict=False, example="0.0001")
    if a.epochs is not None:
        if a.epochs < 1:
            raise usage_error("--epochs", f"must be at least 1, got {a.epochs}; for example --epochs 100")
        g["epochs"] = a.epochs
    if a.batch_size is not None:
        size = parse_batch_size(a.batch_size)
        g["batch_size"] = "full" if size is None else size
    if a.early_stopping is not None:
        if a.early_stopping < 1:
            raise usage_error("--early-stopping", f"the patience must be at least 1 epoch, got {a.early_stopping}")
        g["early_stopping"] = a.early_stopping
    if a.dtype is not None:
        g["dtype"] = a.dtype.value
    if a.checkpoint_every is not None:
        if a.checkpoint_every < 1:
            raise usage_error("--checkpoint-every", f"must be at least 1, got {a.checkpoint_every}")
        g["checkpoint_every"] = a.checkpoint_every
    if "model_file" in g:
        clash = [f"--{k}" for k in ("hidden", "activation", "dropout") if k in g]
        if clash:
            raise usage_error("--model", f"replaces {', '.join(clash)}; give either a model file or those options")
    return g


def resolve_settings(given: Mapping[str, Any], prior: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting: given on the command line, else the run's (when resuming), else the default."""
    settings = {**DEFAULTS, **prior, **given}
    if settings["model_file"] is not None:
        settings.update(hidden=None, activation=None, dropout=None)
    else:
        for name in ("hidden", "activation", "dropout"):
            if settings[name] is None:
                settings[name] = DEFAULTS[name]
    if settings["lr"] is None:
        settings["lr"] = DEFAULT_LR[settings["optimizer"]]
    return settings


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return str(value)


def differences(prior: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between a run's config.json and the config of this command."""
    out: list[str] = []
    old_s, new_s = prior.get("settings", {}), new["settings"]
    for name in sorted((set(old_s) | set(new_s)) - _RESUMABLE):
        if old_s.get(name) != new_s.get(name):
            out.append(f"--{name.replace('_', '-')} {_show(new_s.get(name))} (the run has {_show(old_s.get(name))})")
    seed_differs = old_s.get("seed") != new_s.get("seed")
    if prior.get("data", {}).get("fingerprint") != new["data"]["fingerprint"] and not seed_differs:
        old = prior.get("data", {})
        out.append(
            f"the data ({new['data']['source']}, {new['data']['samples']} samples) are not the run's "
            f"({old.get('source')}, {old.get('samples')} samples)"
        )
    if not out:
        out += [f"its {section}" for section in _SECTIONS if prior.get(section) != new.get(section)]
    return out
