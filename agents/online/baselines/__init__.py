"""Baseline agents, one module each: random, most-popular, the myopic oracle, the planning
oracle and disjoint LinUCB.

They follow the `agents.base.Agent` interface and act in every action mode of recgym: one
item, a slate of `slate_size` distinct items, or (in candidate mode) indices into the
observed candidate list. Each takes one observation or a batch.

- `RandomAgent` (`random_agent`): uniformly random distinct choices.
- `PopularAgent` (`popular`): items ranked by a smoothed rate of the primary signal (e.g.
  CTR), counted from random exploration in an environment (`fit`) or from a log
  (`from_log`).
- `OracleAgent` (`oracle`): greedy on the simulator's own probability of the primary
  signal for the user's current hidden state (an upper reference for myopic
  recommendation; no real recommender can see it).
- `PlannerAgent` (`planner`): Monte-Carlo lookahead on the simulator's hidden state for
  the environment's combined reward (the ceiling; `lookahead` holds its rollouts).
- `LinUCBAgent` (`linucb`): disjoint LinUCB (Li et al., 2010), one ridge model per item
  over a context built from the observation.

`common` holds the helpers they share; `explorer` the `fit` loop of those that learn by
acting (popular, LinUCB).
"""

from agents.online.baselines.explorer import ExplorerConfig
from agents.online.baselines.linucb import LinUCBAgent, LinUCBConfig
from agents.online.baselines.oracle import OracleAgent, OracleConfig
from agents.online.baselines.planner import PlannerAgent, PlannerConfig
from agents.online.baselines.popular import PopularAgent, PopularConfig
from agents.online.baselines.random_agent import RandomAgent, RandomConfig

BASELINES: tuple[str, ...] = ("random", "popular", "oracle", "planner", "linucb")
"""The baselines' agent names (`recgym evaluate NAME` builds one without a run)."""

__all__ = ["BASELINES", "ExplorerConfig", "LinUCBAgent", "LinUCBConfig", "OracleAgent",
           "OracleConfig", "PlannerAgent", "PlannerConfig", "PopularAgent", "PopularConfig",
           "RandomAgent", "RandomConfig"]
