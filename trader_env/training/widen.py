"""Warm start across an observation that gained columns: widen the first layer, keep the policy.

Why. A phase that adds observation columns (phase 5's regime one-hot: 18 -> 22 columns) could
not continue from the previous phase's weights, so it started fresh, and a fresh start under
costs does not find what the earlier phases learned (benchmarks/results/learning.md, section
10: on the synthetic market phase 5 then lost the planted signal and abstained).

How. Every model records its observation's column names (:data:`COLUMNS_ATTRIBUTE`, saved in
the SB3 zip with the other attributes). When the next phase's observation has the same window
and every old column, the new network is built as usual and each weight of the previous one
is copied in; a weight that reads the flattened observation (the first layer of each MLP head,
or an LSTM's input weights: shape ``(out, window x columns)``) gets each old column's weights
at that column's new place and zeros for the new columns. The widened network therefore
computes exactly what the previous one did (Net2Net's function-preserving expansion; Chen et
al., 2016), and training teaches it to read the new columns. The optimiser starts afresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

#: The model attribute holding its observation's column names (saved with the model).
COLUMNS_ATTRIBUTE = "observation_columns"


def observation_columns(model: Any) -> list[str] | None:
    """The column names ``model`` was trained on, or None for a model saved without them."""
    columns = getattr(model, COLUMNS_ATTRIBUTE, None)
    return list(columns) if columns is not None else None


def widening_problem(old_columns: Sequence[str] | None, new_columns: Sequence[str]) -> str | None:
    """Why a model over ``old_columns`` cannot be widened to ``new_columns`` (None: it can)."""
    if old_columns is None:
        return "the previous model does not record its observation's columns"
    missing = [name for name in old_columns if name not in new_columns]
    if missing:
        return f"the new observation drops column(s) {missing}"
    if len(set(old_columns)) != len(old_columns):
        return "the previous model's columns are not unique"
    return None


def widen_state_dict(
    old: Mapping[str, torch.Tensor],
    new: Mapping[str, torch.Tensor],
    old_columns: Sequence[str],
    new_columns: Sequence[str],
    window: int,
) -> dict[str, torch.Tensor]:
    """``new``'s state dict filled with ``old``'s weights (see the module docstring).

    ``old`` / ``new``: policy state dicts of the same architecture except for the input width
    (``window x len(old_columns)`` against ``window x len(new_columns)``, flattened row by
    row: index ``w x columns + c``). Raises ``ValueError`` naming the first tensor that fits
    neither rule, or a key that only one of them has.
    """
    if set(old) != set(new):
        raise ValueError(f"different parameters: {sorted(set(old) ^ set(new))}")
    n_old, n_new = len(old_columns), len(new_columns)
    # Column c of every window row moves to its new index; the new columns stay zero.
    moved = torch.tensor(
        [w * n_new + new_columns.index(name) for w in range(window) for name in old_columns]
    )
    widened: dict[str, torch.Tensor] = {}
    for key, target in new.items():
        source = old[key]
        if source.shape == target.shape:
            widened[key] = source.clone()
        elif (
            source.dim() == 2
            and source.shape[0] == target.shape[0]
            and source.shape[1] == window * n_old
            and target.shape[1] == window * n_new
        ):
            weight = torch.zeros_like(target)
            weight[:, moved] = source
            widened[key] = weight
        else:
            raise ValueError(
                f"{key}: shape {tuple(source.shape)} does not widen to {tuple(target.shape)}"
            )
    return widened
