"""Loading YAML files into typed pydantic models with errors that name file, key and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names file, key and reason."""


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; an empty file is an empty mapping."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"{path}: expected a mapping at the top level, got {type(loaded).__name__}"
        )
    return loaded


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``override``; nested mappings merge, everything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate_model(
    model_cls: type[ModelT],
    data: dict[str, Any],
    source: str,
    context: dict[str, Any] | None = None,
) -> ModelT:
    """Validate ``data`` into ``model_cls``; errors name ``source`` and every offending key.

    ``context`` is pydantic's validation context, handed to validators that need more than the
    data (e.g. the storage root that relative paths resolve against)."""
    try:
        return model_cls.model_validate(data, context=context)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "<root>"
            problems.append(f"key '{key}': {error['msg']} (got {error.get('input')!r})")
        raise ConfigError(f"{source}: invalid configuration: " + "; ".join(problems)) from None


def load_model(
    model_cls: type[ModelT], path: Path, overrides: dict[str, Any] | None = None
) -> ModelT:
    """Load ``path`` into ``model_cls``, applying ``overrides`` (a nested mapping) on top."""
    data = read_yaml(path)
    if overrides:
        data = deep_merge(data, overrides)
    return validate_model(model_cls, data, str(path))


def active_profile() -> str:
    """The profile named by ``$TRADER_PROFILE`` (``dev`` when unset)."""
    import os

    return os.environ.get("TRADER_PROFILE", "dev") or "dev"


def resolve_profile(data: dict[str, Any], profile: str, source: str) -> dict[str, Any]:
    """Apply the ``profiles.<profile>`` section of a config mapping and drop ``profiles``.

    A file may carry ``profiles: {dev: {...}, test: {...}}``; the section of the active profile is
    deep-merged over the rest. A profile that the file does not mention changes nothing.
    """
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(
            f"{source}: key 'profiles' must be a mapping of profile name to overrides"
        )
    section = profiles.get(profile) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: key 'profiles.{profile}' must be a mapping of overrides")
    base = {key: value for key, value in data.items() if key != "profiles"}
    return deep_merge(base, section)


def load_profiled_model(
    model_cls: type[ModelT],
    path: Path,
    profile: str | None = None,
    overrides: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> ModelT:
    """Load ``path`` with its ``profiles.<profile>`` section applied, then ``overrides`` on top;
    ``context`` as in :func:`validate_model`."""
    data = resolve_profile(read_yaml(path), profile or active_profile(), str(path))
    if overrides:
        data = deep_merge(data, overrides)
    return validate_model(model_cls, data, str(path), context)
