"""The registry: one `Section` per table of the results page, with the exact command that
makes it, its seeds, rough run time, what it needs, and the function that turns the
benchmark's JSON into markdown."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from resultspage import tables_agents as agents
from resultspage import tables_offline as offline
from resultspage import tables_sim as sim

OUT = "{out}"
"""In a command, a scratch path for the benchmark's output (shown as `OUT`)."""


class Need(NamedTuple):
    """A file or folder a section needs; `env` names a variable that overrides the path."""

    path: str
    what: str
    env: str | None = None

    def location(self, root: Path) -> Path:
        """Where it is looked for: `$env` if set, else `path` (relative to the repository
        root; `~` is the home folder)."""
        if self.env and os.environ.get(self.env):
            return Path(os.environ[self.env])
        return root / Path(self.path).expanduser()


@dataclass(frozen=True)
class Section:
    """One table: `argv` follows `python` and runs in the repository root; the benchmark
    prints one JSON object (`output` None) or writes it under `OUT` (`output` "" for the
    file `OUT` itself, else a path inside the folder `OUT`)."""

    name: str
    title: str
    argv: tuple[str, ...]
    table: Callable[[Mapping[str, Any]], str]
    note: str
    seeds: str
    time: str
    needs: tuple[Need, ...] = ()
    output: str | None = None

    @property
    def command(self) -> str:
        """The command as a user types it."""
        return "python " + shlex.join(a.replace(OUT, "OUT") for a in self.argv)

    @property
    def output_text(self) -> str:
        """Where the JSON comes from, in words."""
        if self.output is None:
            return "its JSON on stdout"
        return "its JSON written to " + ("OUT" if not self.output else f"OUT/{self.output}")

    def missing(self, root: Path) -> list[Need]:
        """The needs that are absent."""
        return [n for n in self.needs if not n.location(root).exists()]


KUAIRAND = Need("../shared/data/kuairand-pure", "the KuaiRand-Pure sample")
MOVIELENS = Need("../shared/data/movielens-100k", "MovieLens-100K")
RECSIM = (Need("~/.cache/recsim-venv/bin/python", "RecSim's venv (../shared/bench/README.md)",
               "RECSIM_PYTHON"),
          Need("../shared/bench/recsim_throughput.py", "RecSim's timing script",
               "RECSIM_SCRIPT"))


def _fit_sim(data: str) -> tuple[str, ...]:
    return ("-m", "recgym", "fit-sim", "--data", data, "--out", OUT, "--no-progress")


FIDELITY_NOTE = ("Held-out fidelity of the fitted simulator: AUC (RMSE for continuous "
                 "signals) beside the popularity-only and user-item-only baselines, ECE "
                 "before and after the calibration maps, and the replayed sessions.")

SECTIONS: tuple[Section, ...] = (
    Section("world_conflict", "Immediate against long-term engagement",
            ("benchmarks/world_conflict.py", "--json"), sim.world_conflict,
            "Immediate against long-term engagement of each behaviour policy of the "
            "synthetic world: CTR, likes and watch ratio beside session length and return gap.",
            "world and rollouts seed 0 (2,000 users, 5 sessions each)",
            "a few minutes (300 users: 26 s on a loaded machine)"),
    Section("fidelity_kuairand", "Fidelity: KuaiRand-Pure sample", _fit_sim(
        "../shared/data/kuairand-pure"), sim.fidelity, FIDELITY_NOTE,
            "fit seed 0 (`--seed`, default)", "about 2 min (fit 79 s, fit-sim 123 s)",
            (KUAIRAND,), "fidelity.json"),
    Section("fidelity_movielens", "Fidelity: MovieLens-100K", _fit_sim(
        "../shared/data/movielens-100k"), sim.fidelity, FIDELITY_NOTE,
            "fit seed 0 (`--seed`, default)", "under a minute (fit 11 s)", (MOVIELENS,),
            "fidelity.json"),
    Section("fidelity_synthetic", "Fidelity: synthetic log against its world",
            _fit_sim("synthetic"), sim.fidelity,
            FIDELITY_NOTE + " Also the fit against the world that wrote the log.",
            "data and fit seed 0 (2,000 users, 14 days, 3 fresh days held out)",
            "about 2 min (fit 47 s, fit-sim 101 s)", (), "fidelity.json"),
    Section("fidelity_unseen", "Fidelity: a KuaiRand log the defaults were not tuned on",
            ("benchmarks/bench_unseen_log.py", "--data", "../shared/data/kuairand-pure",
             "--users", "1400", "--min-rows", "20", "--seed", "1", "--json"), sim.fidelity,
            FIDELITY_NOTE + " On 1,400 users of the sample with at least 20 rows.",
            "user draw seed 1, fit seed 0", "about a minute (not quoted in the README)",
            (KUAIRAND,)),
    Section("simulator_throughput", "Fitted-simulator throughput",
            ("benchmarks/bench_simulator.py", "--json"), sim.simulator_throughput,
            "User-steps per second of a simulator fitted to a synthetic log: `respond` and a "
            "full step (respond + step_state + leave_prob) by batch size.",
            "synthetic log seed 0; timing draws seed 0", "about a minute (fit included)"),
    Section("env_throughput", "Environment throughput against RecSim",
            ("benchmarks/bench_env.py", "--json"), sim.env_throughput,
            "User-steps per second with a random policy (resets included), as ratios of "
            "medians to RecSim's `interest_evolution` timed in the same run, in rounds "
            "alternating with every recgym case.",
            "environments reset with seed 0; random actions seed 0",
            "about 2 min (3 rounds of 2 s per case)", RECSIM),
    Section("loading", "Loading throughput", ("benchmarks/bench_loading.py", "--json"),
            sim.loading, "Rows per second of each loader on a synthetic 1M-row log in the "
            "KuaiRand layout, and on the real samples when present.",
            "synthetic log seed 0", "under a minute"),
    Section("offline_data", "Offline datasets at scale",
            ("benchmarks/bench_offline.py", "--exports", "--json"), sim.offline_data,
            "The KuaiRand-Pure sample as RL episodes, Parquet and the d3rlpy and Minari "
            "exports: seconds and peak memory, each case in a fresh process.",
            "none (the real sample, built deterministically)",
            "about 20 min (the Minari export alone took 16 min; needs ~3 GB of disk)",
            (KUAIRAND,)),
    Section("online_leaderboard", "Online leaderboard",
            ("benchmarks/leaderboard_online.py", "--seeds", "3", "--users", "500", "--json"),
            agents.online_leaderboard,
            "Every demo agent with its demo budget in the synthetic world: metrics are means "
            "over seeds; the interval pools every evaluated user; seed sd is that of the "
            "per-seed mean return.",
            "training seeds 0, 1, 2; the same 500 evaluation users per seed",
            "about 12 min (11 min 36 s)"),
    Section("drr_reproduction", "DRR reproduction (MovieLens-100K)",
            ("benchmarks/drr_reproduction.py", "--json", OUT), agents.drr_reproduction,
            "The DRR paper's offline protocol: every method trained on 80% of the users, "
            "evaluated once on each test user, beside the paper's figures and the ceiling.",
            "agent seeds 0, 1, 2; user split seed 0", "not yet quoted in the README",
            (MOVIELENS,), ""),
    Section("drr_ablation", "DRR ablation", ("benchmarks/drr_ablation.py", "--json", OUT),
            agents.drr_ablation, "DRR's parts switched off one at a time: mean return over "
            "seeds with its interval and seed sd.",
            "the script's defaults (recorded in the stored JSON)",
            "not yet quoted in the README", (), ""),
    Section("sweep_scaling", "Sweeps on Ray Tune: overhead and speed-up",
            ("benchmarks/bench_sweep.py", "--json"), agents.sweep_scaling,
            "8 short A2C trials (`recgym train` runs) plainly in one process, then as a "
            "sweep on a local Ray with 1 and with 2 trials at a time.",
            "trial seeds 0 to 7", "about 2 min"),
    Section("offline_agents", "Offline agents", ("benchmarks/bench_offline_agents.py", "--json"),
            agents.offline_agents,
            "Every offline agent trained on a softmax-logged synthetic log: true return in "
            "the world (mean over seeds), beside the logging policy, random and most "
            "popular; gradient steps per second there and on KuaiRand-Pure.",
            "agent seeds 0, 1; world and log seed 0; evaluation users seeded 10,000",
            "about 15 min (not quoted in the README)"),
    Section("ope_validation", "Off-policy evaluation against the truth",
            ("benchmarks/ope_validation.py", "--json"), offline.ope_validation,
            "Every estimator's estimate of five target policies beside their true return in "
            "the synthetic world, then each estimator's rank correlation and errors.",
            "`--seed 0` (world, log, CQL, FQE); truth users seeded 10,000",
            "about 11 min (677 s)"),
    Section("fqe_crosscheck", "FQE: recgym's against d3rlpy's",
            ("benchmarks/fqe_crosscheck.py", "--json"), offline.fqe_crosscheck,
            "recgym's FQE and WDR and d3rlpy's DiscreteFQE against the truth for a CQL agent, "
            "with and without masking recently seen items.",
            "world, log, split and CQL seed 0; truth users seed 7",
            "a few minutes (not quoted in the README)"),
    Section("offline_leaderboard", "Offline leaderboard",
            ("benchmarks/leaderboard_offline.py", "--seeds", "3", "--json"),
            agents.offline_leaderboard,
            "Every offline agent against BC and the logging policy on true return, with each "
            "off-policy estimate beside it: two synthetic logs and the KuaiRand-Pure sample.",
            "seeds 0, 1, 2 (log, split, agent); OPE on seed 0; evaluation users seeded "
            "50,000 + 10,000 x seed", "about 2 h (two parts of about 1 h each)"),
    Section("dt4ier_ablation", "DT4IER ablation and baselines",
            ("benchmarks/dt4ier_ablation.py", "--json", OUT), offline.dt4ier_ablation,
            "DT4IER with each part switched off, the plain DT and the other offline learners "
            "on a mixture log: online in the world, ranking on held-out sessions, and the RTG "
            "prompt.", "seeds 0, 1, 2 (log, split, agents); evaluation users seeded 10,000",
            "about 1.5 h (seeds one after another)", (), ""),
    Section("dt4ier_cost", "DT4IER cost", ("benchmarks/bench_dt4ier.py", "--steps", "100",
                                           "--threads", "1", "--json"),
            offline.dt4ier_cost,
            "Time per 100 gradient steps and peak memory on KuaiRand-Pure beside d3rlpy's "
            "decision transformer in the same run, and the tests' smoke configuration.",
            "the agents' default seed 0", "about 5 min", (KUAIRAND,)),
    Section("sim2rec_transfer", "Sim2Rec transfer",
            ("benchmarks/sim2rec_transfer.py", "--seeds", "3", "--steps", "80000",
             "--kuairand", "../shared/data/kuairand-pure", "--json", OUT),
            offline.sim2rec_transfer,
            "Policies trained on simulators fitted to a log, judged on held-out members, the "
            "true world and a shifted world; the parameter head's R².",
            "seeds 0, 1, 2 (PPO, evaluation users seeded 10,000 + seed); sets fitted with "
            "seed 0", "about 1 h (two sets fitted, two seeds at a time)", (KUAIRAND,), ""),
    Section("sim2rec_transfer_spread", "Sim2Rec transfer: the harder test",
            ("benchmarks/sim2rec_transfer.py", "--seeds", "3", "--steps", "80000", "--spread",
             "3", "--history", "50", "--json", OUT), offline.sim2rec_transfer,
            "The same with members three times as different and a 50-item history.",
            "seeds 0, 1, 2; set fitted with seed 0", "about 30 min", (), ""),
)


def section_names() -> list[str]:
    """Every section's name, in page order."""
    return [s.name for s in SECTIONS]


def chosen(names: Sequence[str] | None) -> list[Section]:
    """The sections named (all when None), in page order; unknown names raise a
    `ValueError` that lists the valid ones."""
    if names is None:
        return list(SECTIONS)
    if not names:
        raise ValueError(f"no section named; valid sections: {', '.join(section_names())}")
    unknown = [n for n in names if n not in section_names()]
    if unknown:
        raise ValueError(f"unknown section(s): {', '.join(unknown)}; valid sections: "
                         f"{', '.join(section_names())}")
    return [s for s in SECTIONS if s.name in names]


def by_name(name: str) -> Section:
    """The section `name` (a `ValueError` listing the valid ones otherwise)."""
    return chosen([name])[0]
