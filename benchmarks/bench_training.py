"""Training throughput: phase 2 through the real training path against SB3's own PPO on
CartPole, measured in one run on one machine, and where phase 2's time goes.

Usage::

    .venv/bin/python benchmarks/bench_training.py [--timesteps N] [--phase P] [--profile]
        [--override JSON] [--out PATH]

- **Peer**: SB3's PPO on ``CartPole-v1`` with 8 ``DummyVecEnv`` copies, n_steps 1024,
  batch 512, 10 epochs, MLP 64 x 64, 1 torch thread, CPU: a vanilla SB3 loop on an
  environment that costs nothing, the same timesteps.
- **Phase 2** (``--phase``): ``train_phase`` exactly as the ``phaseN_model`` asset calls it
  (``dev`` profile, the SPY sample's training split minus the selection slice, production
  costs, checkpoint selection scored on the slice, atomic save), fps counted over the whole
  call (environment and model built, training, checkpoint scoring, save) and over
  ``learn()`` alone. The SPY data is loaded before the clock starts. ``--override`` merges a
  JSON object over the phase config (to measure other sizes).
- The runs alternate (peer, phase, peer, phase) and each side's faster run is reported, so
  that a busy moment of a shared machine does not decide the ratio.
- ``--profile``: one more phase run of the same timesteps under cProfile, its time split into
  the parts of a training run (cProfile inflates Python-heavy parts more than torch's; the
  shares are indicative, the fps above are not profiled).

Prints markdown and writes it to ``benchmarks/results/training.md``. The load average at the
start is printed with the numbers. Runs on the code it is imported with, so the same script
measures another checkout (``PYTHONPATH=<checkout>``).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "training.md"
PEER = {"n_envs": 8, "n_steps": 1024, "batch_size": 512, "n_epochs": 10}


def peer_fps(timesteps: int) -> tuple[float, float]:
    """SB3 PPO on CartPole: (fps over construction + learn, fps over learn)."""
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(1)
    start = time.perf_counter()
    env = DummyVecEnv([lambda: gym.make("CartPole-v1") for _ in range(PEER["n_envs"])])
    env.seed(0)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=PEER["n_steps"],
        batch_size=PEER["batch_size"],
        n_epochs=PEER["n_epochs"],
        seed=0,
        device="cpu",
        verbose=0,
    )
    learn_start = time.perf_counter()
    model.learn(timesteps)
    end = time.perf_counter()
    return model.num_timesteps / (end - start), model.num_timesteps / (end - learn_start)


def phase_inputs(phase: int, timesteps: int, override: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(config, training arrays, selection slice) of ``phase`` as the asset builds them."""
    from trader_env.costs import production_costs, with_production_costs
    from trader_env.dataset import default_market_data
    from trader_env.phase_config import load_phase_config
    from trader_env.workflow.training import training_arrays
    from trader_env.yaml_config import deep_merge

    market = default_market_data("dev")
    symbols = market.bars["symbol"].unique().sort().to_list()
    overrides = deep_merge({"training": {"total_timesteps": timesteps}}, override)
    config = load_phase_config(phase, "dev", overrides=overrides)
    if phase >= 2:
        config = with_production_costs(config, production_costs(symbols, "us_equity"))
    parts = training_arrays(config, market)
    return config, parts[0], parts[-1]


def phase_fps(config: Any, arrays: Any, selection: Any) -> tuple[float, float, Any]:
    """(fps over the whole ``train_phase`` call, fps over ``learn()``, the result)."""
    from trader_env.training import train_phase

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        result = train_phase(
            config,
            arrays,
            Path(folder) / "model.zip",
            selection=selection,
            progress_interval_s=1e9,
        )
        total = time.perf_counter() - start
    return result.timesteps / total, result.fps, result


def _cumulative(stats: pstats.Stats, where: str, name: str) -> float:
    """Cumulative seconds of the functions called ``name`` in files ending with ``where``."""
    return sum(
        value[3]
        for (file, _, function), value in stats.stats.items()  # type: ignore[attr-defined]
        if function == name and file.endswith(where)
    )


def _called_from(stats: pstats.Stats, callee: tuple[str, str], caller: tuple[str, str]) -> float:
    """Cumulative seconds of ``callee`` (file suffix, function) when called by ``caller``."""
    total = 0.0
    for (file, _, function), value in stats.stats.items():  # type: ignore[attr-defined]
        if function != callee[1] or not file.endswith(callee[0]):
            continue
        for (c_file, _, c_function), timing in value[4].items():
            if c_function == caller[1] and c_file.endswith(caller[0]):
                total += timing[3]
    return total


def profile_parts(
    config: Any, arrays: Any, selection: Any
) -> tuple[list[tuple[str, float]], float]:
    """Seconds per part of one profiled ``train_phase`` run, and its total."""
    profiler = cProfile.Profile()
    profiler.enable()
    start = time.perf_counter()
    phase_fps(config, arrays, selection)
    total = time.perf_counter() - start
    profiler.disable()
    stats = pstats.Stats(profiler)
    step_wait = ("dummy_vec_env.py", "step_wait")
    ours = ("vec_env.py", "step_wait")
    learn = _cumulative(stats, "on_policy_algorithm.py", "learn")
    # Scored while training (before), or in a background thread and the final model at the end.
    scoring = _cumulative(stats, "selection.py", "_score") + _cumulative(
        stats, "selection.py", "_on_training_end"
    )
    update = _cumulative(stats, "ppo/ppo.py", "train")
    # SB3's rollouts call the policy module (torch's _call_impl calls its forward); ours call
    # the numpy sampler. Backtests use neither.
    forward = _cumulative(stats, "common/policies.py", "forward") + _cumulative(
        stats, "training/ppo.py", "act"
    )
    deepcopy = _called_from(stats, ("copy.py", "deepcopy"), step_wait)
    env_step = _called_from(stats, ("trading_env.py", "step"), step_wait) + _called_from(
        stats, ("trading_env.py", "step"), ours
    )
    vec_env = (
        _cumulative(stats, "dummy_vec_env.py", "step_wait")
        + _cumulative(stats, "env/vec_env.py", "step_wait")
        - deepcopy
        - env_step
    )
    dynamo = _cumulative(stats, "torch/_dynamo/__init__.py", "<module>")
    rollout_rest = learn - scoring - update - forward - deepcopy - env_step - vec_env
    parts = [
        ("`copy.deepcopy` of the infos in SB3's `DummyVecEnv.step_wait`", deepcopy),
        ("policy forward during rollouts", forward),
        ("PPO update (backward, optimiser)", update),
        ("the environment's own `step` (training copies)", env_step),
        ("the VecEnv's own loop", vec_env),
        (
            "checkpoint scoring on the selection slice (in the training process: the final "
            "model's backtest and any wait for the scoring worker)",
            scoring,
        ),
        ("rest of the rollout loop (buffer, callbacks)", rollout_rest),
        ("setup and save (environment, model, torch._dynamo import, zip)", total - learn),
        ("of which importing `torch._dynamo` (first optimiser use, once per process)", dynamo),
    ]
    return parts, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=300_000, help="per run (dev: 300k)")
    parser.add_argument("--phase", type=int, default=2)
    parser.add_argument("--override", type=json.loads, default={}, help="JSON over the config")
    parser.add_argument("--profile", action="store_true", help="also profile one more run")
    parser.add_argument("--repeat", type=int, default=2, help="runs per side, best kept")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write")
    parser.add_argument("--label", default="", help="what was measured (e.g. a commit)")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    config, arrays, selection = phase_inputs(args.phase, args.timesteps, args.override)
    peer_runs, phase_runs = [], []
    for _ in range(args.repeat):
        peer_runs.append(peer_fps(args.timesteps))
        total_fps, learn_fps, result = phase_fps(config, arrays, selection)
        phase_runs.append((total_fps, learn_fps))
    peer_total, peer_learn = max(peer_runs)
    phase_total, phase_learn = max(phase_runs)
    hyper = config.algorithm.hyperparameters
    training = config.training
    lines = [
        "# Training throughput",
        "",
        f"`benchmarks/bench_training.py --timesteps {args.timesteps}"
        f"{' --phase ' + str(args.phase) if args.phase != 2 else ''}"
        f"{' --override ' + repr(json.dumps(args.override)) if args.override else ''}`"
        f"{' (' + args.label + ')' if args.label else ''}; {time.strftime('%Y-%m-%d')}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load:.2f} at the start, torch {torch.__version__}, 1 torch thread. Best of "
        f"{args.repeat} alternating runs per side.",
        "",
        f"Phase {args.phase}: {training.n_envs} copies x n_steps {hyper.n_steps}, batch "
        f"{hyper.batch_size}, {hyper.n_epochs} epochs, MLP {list(hyper.net_arch)}, "
        f"`vec_env: {training.vec_env}`, selection slice of {training.selection.fraction:g} "
        f"scored {training.selection.checkpoints} times + final; "
        f"{sum(len(a) for a in arrays):,} training bars; {result.timesteps:,} timesteps trained.",
        "",
        "| run | fps, whole call | fps, learn() only |",
        "|---|---:|---:|",
        f"| SB3 PPO, CartPole-v1, 8 DummyVecEnv, n_steps 1024, batch 512 | {peer_total:,.0f} | "
        f"{peer_learn:,.0f} |",
        f"| phase {args.phase} via `train_phase` (SPY, dev) | {phase_total:,.0f} | "
        f"{phase_learn:,.0f} |",
        f"| **ratio** | **{phase_total / peer_total:.2f}x** | {phase_learn / peer_learn:.2f}x |",
    ]
    if args.profile:
        parts, total = profile_parts(config, arrays, selection)
        lines += [
            "",
            f"Where phase {args.phase}'s time goes (cProfile, the same run, "
            f"{total:.1f} s profiled):",
            "",
            "| part | seconds | share |",
            "|---|---:|---:|",
            *(
                f"| {name} | {seconds:.2f} | {100 * seconds / total:.0f} % |"
                for name, seconds in parts
            ),
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
