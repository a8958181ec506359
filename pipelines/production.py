"""The production loop's assets: ``forward_ledger`` and ``champion_signal`` (group ``serving``).

Both run in the ``promote_champion`` job, after ``champion_decision``, so after every training
run: the ledger first (it may demote the champion), then the signal of whichever champion
serves afterwards. No ``from __future__ import annotations``: Dagster reads annotations.
"""

import sys
from pathlib import Path

import dagster as dg
import polars as pl
import torch

from pipelines.io_manager import read_stored
from pipelines.metadata import json_safe, table
from pipelines.settings import PipelineSettings
from trader_env.dataset import Dataset
from trader_env.evaluation.champion import ChampionRecord, ChampionRegistry
from trader_env.features import Splits
from trader_env.paths import storage_root
from trader_env.production import ForwardLimits, Signal, compute_signals
from trader_env.production.loop import LedgerOutcome, champion_env, run_ledger_turn
from trader_env.workflow import refused_all, serving_champion

MARKET_INS = {name: dg.AssetIn(name) for name in ("bars", "features", "regimes", "splits")}


def _one_thread() -> None:
    # Replays predict one observation at a time: more torch threads only contend for the
    # cores (measured 12x slower on 2 busy cores).
    torch.set_num_threads(1)


def forward_limits(settings: PipelineSettings) -> ForwardLimits:
    """The rollback limits: phase 3's daily drawdown limit (the run's config), the expectation
    test's defaults."""
    limit = settings.configs.phase(3).env.drawdown_limits.max_daily_drawdown_pct
    return ForwardLimits() if limit is None else ForwardLimits(daily_drawdown_limit=limit)


def lineage_line(record: ChampionRecord) -> dict:
    """The champion's identity as the signal reports it (phase, file, data, config, code)."""
    lineage = record.lineage
    return {
        "version": record.version,
        "phase": record.phase,
        "model_path": record.model_path,
        "model_sha256": record.model_sha256,
        "algorithm": lineage.get("algorithm"),
        "data_version": lineage.get("data_version"),
        "config_hash": lineage.get("config_hash"),
        "code_version": lineage.get("code_version"),
        "selection_end": lineage.get("selection_end"),
        "validation_sharpe": record.validation_sharpe,
        "promoted_at": record.promoted_at,
    }


def signals_for(
    market: Dataset, storage: Path, symbols: list[str] | None = None
) -> tuple[ChampionRecord | None, list[Signal], tuple[str, ...]]:
    """The serving champion, its next-bar signals (empty without a champion) and the
    champions refused on the way because their model file was not the file promoted."""
    _one_thread()
    serving = serving_champion(storage)
    if serving.champion is None or serving.policy is None:
        return None, [], serving.refused
    champion = serving.champion
    signals = compute_signals(serving.policy, market, champion_env(champion), symbols)
    return champion, signals, serving.refused


def _no_champion(storage: Path) -> int:
    """Say why no champion serves; the signal command's exit code for it."""
    reason = refused_all(storage)
    if reason is None:
        print(no_champion_message(storage))
        return 0
    print(
        "Error: no champion serves: the last champion left to serve was refused because its "
        f"model file is not the file that was promoted ({reason}). Promote a model again "
        "(`python -m pipelines`).",
        file=sys.stderr,
    )
    return EXIT_REFUSED


def no_champion_message(storage: Path | None = None) -> str:
    """Why no champion serves, in one sentence."""
    history = ChampionRegistry(storage).history()
    if not history:
        return "No champion serves: no model has been promoted yet (run `python -m pipelines`)."
    last = history[-1]
    return f"No champion serves: the last change was '{last.action}' at {last.at}: {last.reason}"


def signal_rows(champion: ChampionRecord, signals: list[Signal]) -> list[dict]:
    """JSON-ready rows: one per symbol, with the champion's lineage."""
    return [
        {
            "symbol": signal.symbol,
            "position": signal.position,
            "direction": signal.direction,
            "action": signal.action,
            "bar_ts": signal.bar_ts.isoformat(),
            "session": signal.session.isoformat(),
            "halted": signal.halted,
            "equity": signal.equity,
            "champion_version": champion.version,
            "phase": champion.phase,
        }
        for signal in signals
    ]


@dg.asset(
    group_name="serving",
    ins=MARKET_INS,
    deps=["champion_decision"],
    code_version="1",
    description="Append-only forward ledger (data/champion/ledger/forward.jsonl): the serving "
    "champion played under its own env config (production costs) over the sessions after its "
    "selection, one row per new day; demotes the champion when a forward-risk limit breaks.",
)
def forward_ledger(
    context: dg.AssetExecutionContext,
    bars: pl.DataFrame,
    features: pl.DataFrame,
    regimes: pl.DataFrame,
    splits: Splits,
    settings: PipelineSettings,
) -> dg.Output[LedgerOutcome]:
    _one_thread()
    outcome = run_ledger_turn(
        Dataset(bars, features, regimes, splits),
        settings.storage,
        forward_limits(settings),
    )
    for line in outcome.refused:
        context.log.warning(line)
    context.log.info(f"forward ledger: {outcome.message}")
    summary = outcome.summary
    metadata: dict = {
        "message": outcome.message,
        "ledger_path": dg.MetadataValue.path(str(outcome.ledger_path)),
        "rows_total": outcome.rows_total,
        "appended_days": len(outcome.appended),
        "champion_version": outcome.champion.version if outcome.champion else "none",
        "demoted": outcome.demoted,
        "refused": dg.MetadataValue.json(list(outcome.refused)),
        "verdict": outcome.verdict.reason if outcome.verdict else "no champion",
        "serving_after": (
            f"v{outcome.serving.version} ({outcome.serving.phase})" if outcome.serving else "none"
        ),
        "forward": dg.MetadataValue.json(json_safe(summary)),
    }
    for key in ("forward_sharpe", "psr_vs_validation", "validation_sharpe", "n_days"):
        if key in summary:
            metadata[key] = dg.MetadataValue.float(float(summary[key]))
    if outcome.appended:
        metadata["appended"] = table(
            pl.DataFrame(
                [
                    {
                        "session": str(row.session),
                        "net_pnl": round(row.net_pnl, 2),
                        "costs": round(row.costs, 2),
                        "turnover": round(row.turnover, 3),
                        "equity": round(row.equity, 2),
                        "intraday_drawdown": round(row.intraday_drawdown, 5),
                    }
                    for row in outcome.appended
                ]
            ).tail(30),  # the newest days: a first turn may append months
            limit=30,
        )
    if outcome.plot is not None:
        metadata["plot"] = dg.MetadataValue.path(str(outcome.plot))
    return dg.Output(outcome, metadata=metadata)


@dg.asset(
    group_name="serving",
    ins=MARKET_INS,
    deps=["forward_ledger"],
    code_version="1",
    description="The serving champion's target position for the next bar of each symbol, from "
    "the latest stored bars, with the model's lineage (also: `python -m pipelines signal`).",
)
def champion_signal(
    context: dg.AssetExecutionContext,
    bars: pl.DataFrame,
    features: pl.DataFrame,
    regimes: pl.DataFrame,
    splits: Splits,
    settings: PipelineSettings,
) -> dg.Output[list[dict]]:
    market = Dataset(bars, features, regimes, splits)
    champion, signals, refused = signals_for(market, settings.storage)
    for line in refused:
        context.log.warning(line)
    if champion is None:
        message = no_champion_message(settings.storage)
        context.log.info(message)
        return dg.Output(
            [], metadata={"message": message, "champion": "none", "refused": list(refused)}
        )
    rows = signal_rows(champion, signals)
    for row in rows:
        context.log.info(
            f"{row['symbol']}: {row['position']} after the bar of {row['bar_ts']} "
            f"(champion v{champion.version}, {champion.phase})"
        )
    return dg.Output(
        rows,
        metadata={
            "champion": f"v{champion.version} ({champion.phase})",
            "positions": table(pl.DataFrame(rows), limit=len(rows)),
            "lineage": dg.MetadataValue.json(json_safe(lineage_line(champion))),
            "refused": dg.MetadataValue.json(list(refused)),
        },
    )


def load_stored_market(assets_dir: Path) -> Dataset:
    """bars, features, regimes and splits as the last runs stored them under ``assets_dir``.

    Raises ``FileNotFoundError`` naming the missing asset when one was never materialized,
    ``StoredValueError`` (file, problem) when the stored splits cannot be read.
    """
    frames = {}
    for name in ("bars", "features", "regimes"):
        files = sorted((assets_dir / name).glob("*.parquet"))
        if not files:
            raise FileNotFoundError(
                f"asset {name} has no stored partitions under {assets_dir / name}: run "
                "`python -m pipelines` first"
            )
        frames[name] = pl.concat([pl.read_parquet(path) for path in files], how="vertical")
    splits = read_stored(assets_dir, dg.AssetKey("splits"))
    return Dataset(frames["bars"], frames["features"], frames["regimes"], splits)


#: Exit code of the signal command when every champion left to serve was refused.
EXIT_REFUSED = 2


def signal_command(argv: list[str]) -> int:
    """``python -m pipelines signal [--symbol S ...]``: print the champion's next-bar targets.

    A champion whose model file is not the file promoted is refused (stderr names the file and
    both hashes) and the champion before it serves if its own file verifies (with a notice on
    stderr). Exit 0 with the signal, or with a plain sentence when no champion serves; 1 when
    the stored market is missing or unreadable or a symbol is unknown; 2
    (:data:`EXIT_REFUSED`) when no champion serves because the last ones were refused.
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m pipelines signal",
        description="The serving champion's target position for the next bar of each symbol.",
    )
    parser.add_argument("--symbol", action="append", help="only this symbol (repeatable)")
    args = parser.parse_args(argv)
    storage = storage_root()
    try:  # StoredValueError, ChampionRegistryError and ModelIntegrityError are ValueErrors
        if ChampionRegistry(storage).current() is None:
            return _no_champion(storage)
        market = load_stored_market(storage / "assets")
        champion, signals, refused = signals_for(market, storage, args.symbol)
    except (FileNotFoundError, ValueError) as exc:
        print(f"Cannot compute the signal: {exc}", file=sys.stderr)
        return 1
    for line in refused:
        print(f"Refused: {line}", file=sys.stderr)
    if champion is None:  # refused, or demoted between the two reads
        return _no_champion(storage)
    if refused:
        print(
            f"Notice: champion v{champion.version} ({champion.phase}) serves instead: its model "
            f"file {champion.model_path} verifies (SHA-256 {champion.model_sha256}).",
            file=sys.stderr,
        )
    lineage = lineage_line(champion)
    print(
        f"Champion v{champion.version} ({champion.phase}, {lineage['algorithm']}) "
        f"{champion.model_path}\n"
        f"  promoted {champion.promoted_at}; selected on sessions up to "
        f"{lineage['selection_end']}; data {str(lineage['data_version'])[:12]}, config "
        f"{str(lineage['config_hash'])[:12]}, code {lineage['code_version']}"
    )
    for signal in signals:
        halted = f" (halted today: {signal.halted})" if signal.halted else ""
        print(
            f"{signal.symbol}: {signal.position.upper()} for the bar after "
            f"{signal.bar_ts:%Y-%m-%d %H:%M} UTC (action {signal.action}){halted}"
        )
    env = champion_env(champion)
    if env.flatten_at_session_end:
        print(
            "  (the champion's environment flattens at each session end: after a session's "
            "last bar, the next session opens flat)"
        )
    return 0


def render_production(ledger: LedgerOutcome | None, signals: list[dict] | None) -> str:
    """The summary's production block: the forward ledger's turn, a demotion, the signals."""
    lines = [""]
    if ledger is not None:
        lines.append(f"Forward ledger ({ledger.ledger_path}, {ledger.rows_total} day(s)):")
        lines.append(f"    {ledger.message}")
        summary = ledger.summary
        if summary.get("n_days"):
            lines.append(
                f"    champion's forward days {summary['first_session']}..{summary['last_session']}"
                f": Sharpe {summary['forward_sharpe']:.2f} (validation "
                f"{summary['validation_sharpe']:.2f}, PSR vs validation "
                f"{summary['psr_vs_validation']:.2f}), return {summary['total_return']:.2%}, "
                f"worst intraday drawdown {summary['worst_intraday_drawdown']:.2%}"
            )
        if ledger.plot is not None:
            lines.append(f"    plot: {ledger.plot}")
        if ledger.demoted:
            lines.append(f"    ROLLBACK: {ledger.verdict.reason if ledger.verdict else ''}")
    if signals is not None:
        if not signals:
            lines.append("Signal: no champion serves, no position.")
        for row in signals:
            lines.append(
                f"Signal: {row['symbol']} {row['position'].upper()} for the bar after "
                f"{row['bar_ts']} (champion v{row['champion_version']}, {row['phase']})"
            )
    return "\n".join(lines)
