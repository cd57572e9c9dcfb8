"""``funcnn datasets``: The built-in data sets."""

from __future__ import annotations

from ..errors import handle_errors
from ..options import JsonOption

__all__ = ["datasets"]


def datasets(json_output: JsonOption = False) -> None:
    """List the built-in data sets with their shapes, tasks and sources.

    \b
    Examples:
      funcnn datasets
      funcnn train --data moons
    """
    with handle_errors():
        _datasets(as_json=json_output)


def _datasets(*, as_json: bool) -> None:

    import attrs

    from funcnn.datasets import describe_builtins

    from ..common import json_text, shape_text

    infos = describe_builtins()
    if as_json:
        print(json_text([{**attrs.asdict(i), "shape": list(i.shape)} for i in infos]))
        return
    lines = [f"{'name':<14} {'samples':>7}  {'sample':<7} {'task':<14} {'classes':>7}  description"]
    for i in infos:
        classes = str(i.n_classes) if i.n_classes is not None else "-"
        lines.append(
            f"{i.name:<14} {i.shape[0]:>7}  {shape_text(i.shape[1:]):<7} {i.task:<14} {classes:>7}  {i.description}"
        )
    lines += ["", "sources:"]
    synthetic = [i.name for i in infos if i.synthetic]
    lines += [f"  {i.name}: {i.source}" for i in infos if not i.synthetic]
    lines.append(f"  {', '.join(synthetic)}: synthetic, drawn from --seed (funcnn.datasets.synthetic)")
    lines.append("use one with: funcnn train --data NAME")
    print("\n".join(lines))
