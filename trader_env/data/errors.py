"""The one exception the data layer raises for input it refuses to interpret."""

from __future__ import annotations

from pathlib import Path

from trader_env.paths import PROJECT_ROOT


class DataValidationError(ValueError):
    """Input bars that cannot be used as they are.

    The message names where the problem is and what is wrong, e.g.
    ``data/raw/x.csv, line 17, column 'close': price must be finite and > 0 (got -1.0)``.
    ``line`` is 1-based and counts the header as line 1 (Parquet files use the same convention:
    data row ``i`` is line ``i + 1``); ``column`` is the column name as spelled in the file.
    ``line`` and ``column`` are ``None`` for problems with a whole file or folder.
    """

    def __init__(
        self,
        reason: str,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        # Positional args keep the exception picklable, which Dagster needs across processes.
        super().__init__(reason, file, line, column)
        self.reason = reason
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


def display_path(path: Path) -> str:
    """``path`` relative to the project root when it lies inside it, else absolute."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(resolved)
