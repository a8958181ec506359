"""Only the promoted bytes serve: a champion whose model file changed after promotion is
refused (demoted, naming the file and both hashes), and the champion before it serves only if
its own file verifies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trader_env.dataset import Dataset
from trader_env.env import EnvConfig
from trader_env.evaluation.champion import ChampionRecord, ChampionRegistry, SharpeEvidence
from trader_env.evaluation.model_integrity import (
    ModelIntegrityError,
    file_sha256,
    verified_model_bytes,
)
from trader_env.production import ForwardLimits
from trader_env.production.loop import run_ledger_turn
from trader_env.workflow import (
    decide_champion,
    load_champion_policy,
    remeasure_champion,
    serving_champion,
)

from .tampering import replace_model

#: Significant whatever the trial count: these tests are about serving.
STRONG = SharpeEvidence(sharpe_per_period=1.0, n_days=1000, skew=0.0, kurtosis=3.0)


def promote(registry: ChampionRegistry, model: Path, env: EnvConfig, end: str) -> ChampionRecord:
    """Promote ``model`` (PPO, phase 2, selected up to ``end``) over whatever serves."""
    record = ChampionRecord(
        phase="phase2",
        model_path=str(model),
        validation_sharpe=1.0,
        gate_costs="production",
        lineage={
            "algorithm": "PPO",
            "env_config": env.model_dump(mode="json"),
            "selection_end": end,
        },
    )
    decision = registry.consider(record, STRONG, champion_sharpe=-1e9)
    assert decision.promoted and decision.current is not None
    return decision.current


def tamper(path: Path) -> str:
    """Replace the model file at ``path`` by a twin whose loading creates ``ran(path)``; the
    new file's SHA-256."""
    return replace_model(path, ran(path))


def ran(path: Path) -> Path:
    """The file a tampered ``path`` creates when it is loaded."""
    return path.with_suffix(".code-ran")


@pytest.fixture
def two_champions(tmp_path: Path, leaning_model, market: Dataset, env_config: EnvConfig):
    """v1 always flat, v2 (serving) always long."""
    registry = ChampionRegistry(tmp_path)
    end = market.splits.parts["validation"].last_session.isoformat()
    flat = promote(registry, leaning_model(1), env_config, end)
    long = promote(registry, leaning_model(2), env_config, end)
    return registry, flat, long


def _action(policy) -> int:
    observation = np.zeros((1, *policy.observation_space.shape), np.float32)
    actions, _ = policy.predict(observation, deterministic=True)
    return int(np.asarray(actions).ravel()[0])


def test_verified_bytes_name_the_file_and_both_hashes(tmp_path: Path) -> None:
    model = tmp_path / "model.zip"
    model.write_bytes(b"promoted")
    expected = file_sha256(model)
    assert verified_model_bytes(model, expected) == b"promoted"
    model.write_bytes(b"replaced")
    found = file_sha256(model)
    with pytest.raises(ModelIntegrityError) as refused:
        verified_model_bytes(model, expected)
    message = str(refused.value)
    assert str(model) in message and expected in message and found in message
    assert (refused.value.expected, refused.value.found) == (expected, found)
    with pytest.raises(ModelIntegrityError, match="recorded no SHA-256"):
        verified_model_bytes(model, None)
    model.unlink()
    with pytest.raises(ModelIntegrityError, match="model.zip: model file refused: the file is"):
        verified_model_bytes(model, expected)


def test_a_changed_champion_is_refused_and_the_previous_one_serves(
    two_champions, tmp_path: Path
) -> None:
    registry, flat, long = two_champions
    found = tamper(Path(long.model_path))

    serving = serving_champion(tmp_path)
    assert serving.champion == flat and serving.policy is not None
    assert _action(serving.policy) == 1, "v1's own policy serves (always flat)"
    (refusal,) = serving.refused
    assert refusal.startswith("champion v2 (phase2) refused: ")
    assert long.model_path in refusal and long.model_sha256 in refusal and found in refusal
    assert "falling back to v1 (phase2)" in refusal
    event = registry.history()[-1]
    assert (event.action, event.replaced_version, event.version) == ("demoted", 2, 1)
    assert long.model_sha256 in event.reason and found in event.reason
    assert registry.current() == flat
    assert serving_champion(tmp_path).refused == (), "refused once; v1 serves from then on"
    assert not ran(Path(long.model_path)).exists(), "the replaced file was never loaded"


def test_with_no_verifying_champion_none_serves_and_the_registry_says_why(
    two_champions, tmp_path: Path
) -> None:
    registry, flat, long = two_champions
    tamper(Path(long.model_path))
    Path(flat.model_path).unlink()

    serving = serving_champion(tmp_path)
    assert serving.champion is None and serving.policy is None
    assert [line.split(" refused: ")[0] for line in serving.refused] == [
        "champion v2 (phase2)",
        "champion v1 (phase2)",
    ]
    assert serving.refused[-1].endswith("the file is missing; no earlier champion is left to serve")
    assert registry.current() is None
    assert [(e.action, e.version) for e in registry.history()[-2:]] == [
        ("demoted", 1),
        ("demoted", None),
    ]


def test_the_ledger_turn_plays_the_fallback_champion(
    two_champions, tmp_path: Path, market: Dataset
) -> None:
    registry, flat, long = two_champions
    tamper(Path(long.model_path))
    outcome = run_ledger_turn(market, tmp_path, ForwardLimits())
    assert outcome.champion == flat and len(outcome.refused) == 1
    assert outcome.appended and {row.champion_version for row in outcome.appended} == {1}
    assert outcome.message.startswith("champion v2 (phase2) refused: ")


def test_the_ledger_turn_without_a_verifying_champion_appends_nothing(
    two_champions, tmp_path: Path, market: Dataset
) -> None:
    registry, flat, long = two_champions
    tamper(Path(long.model_path))
    tamper(Path(flat.model_path))
    outcome = run_ledger_turn(market, tmp_path, ForwardLimits())
    assert outcome.champion is None and outcome.appended == [] and len(outcome.refused) == 2
    assert outcome.message.endswith("no champion serves: nothing to play forward")
    assert not outcome.ledger_path.exists()


def test_a_rollback_to_a_changed_champion_is_refused(two_champions, tmp_path: Path) -> None:
    registry, flat, long = two_champions
    found = tamper(Path(flat.model_path))
    before = registry.registry_path.read_bytes()
    with pytest.raises(ModelIntegrityError) as refused:
        registry.rollback("manual")
    assert flat.model_sha256 in str(refused.value) and found in str(refused.value)
    assert registry.registry_path.read_bytes() == before, "nothing changed"


def test_promotion_re_measures_only_the_promoted_bytes(
    two_champions, market: Dataset, env_config: EnvConfig
) -> None:
    registry, flat, long = two_champions
    costs = {symbol: env_config.costs for symbol in ("SYNA", "SYNB")}
    assert remeasure_champion(long, market, costs) is not None
    tamper(Path(long.model_path))
    with pytest.raises(ModelIntegrityError, match="v0002-phase2-"):
        remeasure_champion(long, market, costs)
    assert not ran(Path(long.model_path)).exists()
    with pytest.raises(ModelIntegrityError, match="recorded no SHA-256"):
        load_champion_policy(flat.model_copy(update={"model_sha256": None}))


def test_a_composite_champion_loads_from_its_checked_bytes(
    tmp_path: Path, leaning_model, env_config: EnvConfig
) -> None:
    from trader_env.training.abstain import AbstainingPolicy
    from trader_env.workflow import load_policy

    declined = load_policy("PPO", leaning_model(2))
    path = AbstainingPolicy(declined, "PPO", "not significant").save(tmp_path / "abstain.zip")
    record = ChampionRecord(
        phase="phase2",
        model_path=str(path),
        model_sha256=file_sha256(path),
        lineage={"algorithm": "Abstain"},
    )
    policy = load_champion_policy(record)
    assert isinstance(policy, AbstainingPolicy) and _action(policy.declined) == 2
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match="abstain.zip: model file refused"):
        load_champion_policy(record)


def test_the_champion_decision_refuses_a_changed_champion_first(
    two_champions, tmp_path: Path, market: Dataset, env_config: EnvConfig
) -> None:
    registry, flat, long = two_champions
    found = tamper(Path(long.model_path))
    costs = {symbol: env_config.costs for symbol in ("SYNA", "SYNB")}
    decision = decide_champion({}, market, tmp_path, "d" * 16, {}, costs)
    assert decision.previous == flat and decision.champion == flat and not decision.promoted
    (refusal,) = decision.demoted
    assert refusal.startswith("champion v2 (phase2) refused: ") and found in refusal
    assert not ran(Path(long.model_path)).exists()
