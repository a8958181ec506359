"""One turn of the production loop: extend the forward ledger, judge it, demote if broken.

Called by the ``forward_ledger`` asset after every promotion run; plain values in and out, so
it runs (and is tested) without Dagster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from trader_env.dataset import Dataset
from trader_env.env import EnvConfig
from trader_env.evaluation.backtest_result import Policy
from trader_env.evaluation.champion import ChampionRegistry
from trader_env.evaluation.champion_records import ChampionRecord
from trader_env.production.ledger import (
    ForwardLedger,
    LedgerRow,
    forward_summary,
    play_forward_days,
)
from trader_env.production.limits import ForwardLimits, RollbackVerdict, judge_forward, plot_forward
from trader_env.workflow.serving import serving_champion


@dataclass(frozen=True)
class LedgerOutcome:
    """What one turn did (the ``forward_ledger`` asset's value).

    ``champion``: the champion that was judged (None: none served); ``appended``: the rows this
    turn added; ``summary``: :func:`forward_summary` of that champion's ledger rows;
    ``verdict``: the rollback rules' verdict; ``demoted``: whether this turn demoted it;
    ``serving``: the champion serving afterwards; ``refused``: champions refused before the
    turn because their model file was not the file promoted
    (:func:`~trader_env.workflow.serving.serving_champion`).
    """

    champion: ChampionRecord | None
    appended: list[LedgerRow]
    summary: dict[str, Any]
    verdict: RollbackVerdict | None
    demoted: bool
    serving: ChampionRecord | None
    ledger_path: Path
    plot: Path | None = None
    message: str = ""
    rows_total: int = 0
    refused: tuple[str, ...] = ()


def selection_end(record: ChampionRecord, market: Dataset) -> date:
    """The last session the champion's selection used: its lineage's ``selection_end``, or
    (registries written before it was recorded) the end of today's validation split."""
    recorded = record.lineage.get("selection_end")
    if recorded:
        return date.fromisoformat(str(recorded))
    return market.splits.parts["validation"].last_session


def champion_env(record: ChampionRecord) -> EnvConfig:
    """The environment config the champion is replayed in: its lineage's
    ``production_env_config`` (its env under production costs) when recorded, else
    ``env_config`` (the env its gate was judged in)."""
    if "production_env_config" in record.lineage:
        return EnvConfig.model_validate(record.lineage["production_env_config"])
    if "env_config" not in record.lineage or "algorithm" not in record.lineage:
        raise ValueError(
            f"champion v{record.version} ({record.model_path}): its lineage has no env_config "
            "/ algorithm, so it cannot be replayed; promote a model evaluated by this version"
        )
    return EnvConfig.model_validate(record.lineage["env_config"])


def run_ledger_turn(
    market: Dataset,
    storage: Path,
    limits: ForwardLimits,
) -> LedgerOutcome:
    """Append the serving champion's new forward days, judge them, demote on a breach.

    The champion is the one whose model file verifies: one whose file does not is refused
    first (:func:`~trader_env.workflow.serving.serving_champion`). The demotion is decided
    under the registry lock against the champion as it is then: if another run changed the
    champion meanwhile, nothing is demoted.
    """
    registry = ChampionRegistry(storage)
    ledger = ForwardLedger(storage)
    found = serving_champion(storage)
    champion, policy, refused = found.champion, found.policy, found.refused
    if champion is None or policy is None:
        return LedgerOutcome(
            None,
            [],
            {},
            None,
            False,
            None,
            ledger.path,
            message="; ".join([*refused, "no champion serves: nothing to play forward"]),
            rows_total=len(ledger.rows()),
            refused=refused,
        )
    end = selection_end(champion, market)
    appended = _append_forward_days(ledger, champion, policy, market, end)
    rows = ledger.rows()
    own = [row for row in rows if row.champion_version == champion.version]
    validation = champion.validation_sharpe
    summary = forward_summary(own, validation)
    verdict = judge_forward(own, validation, limits)
    plot = None
    if own:
        plot = plot_forward(
            own,
            validation,
            storage / "reports" / "forward" / f"v{champion.version:04d}" / "forward_equity.png",
            f"Champion v{champion.version} ({champion.phase}): forward days after {end}",
        )
    serving: ChampionRecord | None = champion
    demoted = False
    if verdict.demote:
        serving = registry.demote(
            f"champion v{champion.version} ({champion.phase}): {verdict.reason}",
            version=champion.version,
        )
        demoted = serving is None or serving.version != champion.version
    message = "; ".join([*refused, _turn_message(champion, appended, verdict, demoted, serving)])
    if validation is None or not math.isfinite(validation):
        summary["note"] = "no validation Sharpe recorded: the expectation is a Sharpe of 0"
    return LedgerOutcome(
        champion,
        appended,
        summary,
        verdict,
        demoted,
        serving,
        ledger.path,
        plot,
        message,
        rows_total=len(rows),
        refused=refused,
    )


def _append_forward_days(
    ledger: ForwardLedger,
    champion: ChampionRecord,
    policy: Policy,
    market: Dataset,
    end: date,
) -> list[LedgerRow]:
    """Play the serving ``champion`` (its verified ``policy``) over the stored sessions after
    ``end`` not yet in the ledger and append them; the rows appended."""
    version = champion.version
    assert version is not None  # a serving champion was promoted, which numbers it
    env_config = champion_env(champion)
    return ledger.append(
        lambda rows: play_forward_days(
            policy, market, env_config, rows, end, version, champion.phase
        )
    )


def _turn_message(
    champion: ChampionRecord,
    appended: list[LedgerRow],
    verdict: RollbackVerdict,
    demoted: bool,
    serving: ChampionRecord | None,
) -> str:
    """One line saying what the turn did, and when it ``demoted`` the champion, which one
    serves now (``serving``; None: no champion)."""
    message = (
        f"appended {len(appended)} forward day(s) for champion v{champion.version}"
        + (f" ({appended[0].session}..{appended[-1].session})" if appended else "")
        + f"; {verdict.reason}"
    )
    if demoted:
        message += f"; DEMOTED v{champion.version}, now serving " + (
            f"v{serving.version} ({serving.phase})" if serving else "no champion"
        )
    return message
