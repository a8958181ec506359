"""Which file column holds which bar field: explicit names from config, else common aliases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from trader_env.data.errors import DataValidationError

#: Accepted column names per canonical field, compared case-insensitively after stripping.
ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("timestamp", "time", "date", "datetime"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
    "symbol": ("symbol", "ticker"),
}
REQUIRED: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume")
#: Config key that names a field's column explicitly, for messages.
_CONFIG_KEY = {"ts": "files.timestamp_column"}


def _config_key(field: str) -> str:
    return _CONFIG_KEY.get(field, f"files.column_map.{field}")


def _separator_hint(names: Sequence[str]) -> str:
    if len(names) == 1:
        for separator, label in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
            if separator in names[0]:
                return f"; the header looks separated by {label}, but files must be comma-separated"
    return ""


def _find_explicit(names: Sequence[str], wanted: str, field: str, file: str) -> str:
    if wanted in names:
        return wanted
    matches = [name for name in names if name.strip().lower() == wanted.strip().lower()]
    if len(matches) == 1:
        return matches[0]
    raise DataValidationError(
        f"column {wanted!r} named by {_config_key(field)} not found (columns in the file: "
        f"{list(names)})",
        file,
        1,
        wanted,
    )


def resolve_columns(
    names: Sequence[str], file: str, explicit: Mapping[str, str | None]
) -> dict[str, str]:
    """Map canonical fields (``ts``, ``open`` ... ``volume``, optionally ``symbol``) to columns.

    ``explicit`` holds configured column names per field (None = auto-detect among
    :data:`ALIASES`). A required field with no column, or with two candidate columns, is
    refused on line 1 (the header). ``symbol`` is only present in the result when found.
    """
    mapping: dict[str, str] = {}
    for field, aliases in ALIASES.items():
        wanted = explicit.get(field)
        if wanted is not None:
            mapping[field] = _find_explicit(names, wanted, field, file)
            continue
        matches = [name for name in names if name.strip().lower() in aliases]
        if len(matches) > 1:
            raise DataValidationError(
                f"columns {matches} all look like the {field!r} field; name the right one with "
                f"{_config_key(field)}",
                file,
                1,
                matches[1],
            )
        if matches:
            mapping[field] = matches[0]
        elif field in REQUIRED:
            display = "timestamp" if field == "ts" else field
            raise DataValidationError(
                f"missing required column (accepted names: {'|'.join(aliases)}, any case; "
                f"columns in the file: {list(names)}){_separator_hint(names)}",
                file,
                1,
                display,
            )
    return mapping
