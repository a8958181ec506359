"""Loading a phase configuration: ``assets_config/phaseN.yaml`` -> :class:`PhaseConfig`.

A phase file states only what changes from the phase it ``inherits`` (``phase{N-1}``), so the
phase files read as the plan's progression. :func:`load_phase_config` resolves a phase in this
order, later layers winning (mappings merge key by key, lists and scalars replace):

1. the base sections of the inheritance chain, oldest first (``phase0.yaml`` ... ``phaseN``);
2. the ``profiles.<profile>`` sections of the chain, oldest first (``dev``, ``full``, ``test``:
   budgets and network sizes, which therefore win over the base sections);
3. ``overrides`` given by the caller;
4. the ``plan`` section, translated onto the fields that implement it (:class:`PlanExtras`);
5. the ``env`` section laid over the EnvConfig of ``env_preset`` (explicit keys win).

Plan names that are not fields of their own (no key exists twice):

==========================  ================================================================
``plan.kelly_criterion``    ``env.position_sizing.method``: ``kelly`` if true, ``fixed`` if
                            false (the cap is ``env.position_sizing.max_kelly_fraction``)
``plan.regime_detection``   ``env.include_regime`` (regime one-hot in the observation)
``plan.target_information_  the gate criterion ``information_ratio_annual > value``
ratio``
``plan.volatility_regimes`` not a phase setting: regimes are computed once, upstream of every
                            phase, from ``features.yaml`` ``regime.vol_thresholds``
==========================  ================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import reduce
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trader_env import paths
from trader_env.phase_config.schema import PHASES, PhaseConfig, PlanExtras
from trader_env.yaml_config import (
    ConfigError,
    active_profile,
    deep_merge,
    read_yaml,
    resolve_profile,
    validate_model,
)

_Layer = tuple[str, dict[str, Any]]  # (where the keys come from, the keys)
_LOADER_KEYS = ("inherits", "profiles")


def _inheritance_chain(folder: Path, name: str) -> list[tuple[Path, dict[str, Any]]]:
    """``[(path, mapping), ...]`` from the root ancestor to ``name``."""
    chain: list[tuple[Path, dict[str, Any]]] = []
    seen: list[str] = []
    current: str | None = name
    while current is not None:
        path = folder / f"{current}.yaml"
        if current in seen:
            cycle = " -> ".join([*seen, current])
            raise ConfigError(f"{path}: key 'inherits': inheritance cycle {cycle}")
        seen.append(current)
        data = read_yaml(path)
        chain.append((path, data))
        parent = data.get("inherits")
        if parent is not None and not isinstance(parent, str):
            raise ConfigError(
                f"{path}: key 'inherits': expected the name of a config (e.g. 'phase0'), got "
                f"{parent!r}"
            )
        current = parent
    return chain[::-1]


def _has_path(data: Any, path: Sequence[str | int]) -> bool:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def _origin(layers: Sequence[_Layer], loc: Sequence[str | int]) -> str:
    """The layer that set the longest prefix of ``loc`` (the last such layer wins)."""
    for length in range(len(loc), 0, -1):
        for label, data in reversed(layers):
            if _has_path(data, loc[:length]):
                return label
    return layers[-1][0]


def _apply_plan(data: dict[str, Any], layers: Sequence[_Layer]) -> dict[str, Any]:
    """Translate the ``plan`` section onto the fields that implement it."""
    plan = data.pop("plan", None)
    if plan is None:
        return data
    source = _origin(layers, ("plan",))
    if isinstance(plan, Mapping) and "volatility_regimes" in plan:
        raise ConfigError(
            f"{_origin(layers, ('plan', 'volatility_regimes'))}: key 'plan.volatility_regimes': "
            "regimes are computed once for every phase: set regime.vol_thresholds in "
            "features.yaml instead"
        )
    if not isinstance(plan, dict):
        raise ConfigError(f"{source}: key 'plan': expected a mapping, got {plan!r}")
    extras = validate_model(PlanExtras, plan, f"{source} (section 'plan')")

    def refuse_duplicate(plan_key: str, field_path: tuple[str, ...]) -> None:
        if _has_path(data, field_path):
            raise ConfigError(
                f"{source}: key 'plan.{plan_key}' sets {'.'.join(field_path)}, which "
                f"{_origin(layers, field_path)} sets as well: state it once"
            )

    env = data.get("env") or {}
    if not isinstance(env, dict):
        raise ConfigError(
            f"{_origin(layers, ('env',))}: key 'env': expected a mapping, got {env!r}"
        )
    if extras.kelly_criterion is not None:
        refuse_duplicate("kelly_criterion", ("env", "position_sizing", "method"))
        method = "kelly" if extras.kelly_criterion else "fixed"
        env = deep_merge(env, {"position_sizing": {"method": method}})
    if extras.regime_detection is not None:
        refuse_duplicate("regime_detection", ("env", "include_regime"))
        env = {**env, "include_regime": extras.regime_detection}
    data = {**data, "env": env}
    if extras.target_information_ratio is not None:
        gate = list(data.get("gate") or [])
        if any(
            isinstance(c, Mapping) and c.get("metric") == "information_ratio_annual" for c in gate
        ):
            raise ConfigError(
                f"{source}: key 'plan.target_information_ratio' adds the gate criterion "
                f"information_ratio_annual, which {_origin(layers, ('gate',))} states as well: state "
                "it once"
            )
        gate.append(
            {
                "metric": "information_ratio_annual",
                "op": ">",
                "threshold": extras.target_information_ratio,
                "description": "plan.target_information_ratio: beat buy-and-hold per unit of "
                "tracking error",
            }
        )
        data["gate"] = gate
    return data


def load_phase_config(
    phase: int,
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    config_dir: Path | None = None,
) -> PhaseConfig:
    """Resolve ``phase{phase}.yaml`` with its ancestors, a profile and overrides.

    ``profile`` defaults to ``$TRADER_PROFILE`` (``dev`` when unset) and must be defined by a
    file of the chain. ``overrides`` is a nested mapping applied after the profiles (e.g.
    ``{"training": {"total_timesteps": 1000}}``). ``config_dir`` defaults to
    :func:`trader_env.paths.config_dir`. Errors (:class:`ConfigError`) name the file, the key
    and the reason.
    """
    if phase not in PHASES:
        raise ConfigError(f"phase must be one of {list(PHASES)}, got {phase!r}")
    folder = Path(config_dir) if config_dir is not None else paths.config_dir()
    chain = _inheritance_chain(folder, f"phase{phase}")
    leaf = str(chain[-1][0])
    profile = profile or active_profile()

    known_profiles: set[str] = set()
    for path, data in chain:
        profiles = data.get("profiles") or {}
        if not isinstance(profiles, Mapping):
            raise ConfigError(f"{path}: key 'profiles' must map profile names to overrides")
        known_profiles.update(profiles)
    if profile not in known_profiles:
        raise ConfigError(
            f"{leaf}: profile {profile!r} is not defined; the phase files define "
            f"{sorted(known_profiles)}"
        )

    layers: list[_Layer] = []
    for path, data in chain:
        if "profile" in data:
            raise ConfigError(f"{path}: key 'profile' is set by the loader; use 'profiles'")
        layers.append((str(path), {k: v for k, v in data.items() if k not in _LOADER_KEYS}))
    for path, data in chain:
        section = resolve_profile({"profiles": data.get("profiles") or {}}, profile, str(path))
        layers.append((f"{path} (profiles.{profile})", section))
    if overrides:
        layers.append(("overrides", dict(overrides)))

    merged: dict[str, Any] = reduce(deep_merge, (data for _, data in layers), {})
    if merged.get("phase") != phase:
        raise ConfigError(
            f"{_origin(layers, ('phase',))}: key 'phase': {leaf} must configure phase {phase}, "
            f"got {merged.get('phase')!r}"
        )
    merged["profile"] = profile
    merged = _apply_plan(merged, layers)
    try:
        return PhaseConfig.model_validate(merged)
    except ValidationError as exc:
        sources = dict.fromkeys(_origin(layers, error["loc"]) for error in exc.errors())
    # validate_model refuses the same data again, with the file(s) that set the bad keys.
    return validate_model(PhaseConfig, merged, ", ".join(sources))
