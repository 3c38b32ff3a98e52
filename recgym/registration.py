"""Registers every recgym environment id with Gymnasium (imported by `import recgym`)."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

ENVIRONMENTS = {
    "RecGym/Synthetic-v0": ("recgym.envs.synthetic:SyntheticEnv",
                            "recgym.envs.synthetic:synthetic_vector_env"),
    "RecGym/Logged-v0": ("recgym.envs.logged:LoggedEnv", "recgym.envs.logged:logged_vector_env"),
    "RecGym/SimSet-v0": ("recgym.envs.logged:SimSetEnv", "recgym.envs.logged:simset_vector_env"),
    "RecGym/KuaiRand-v0": ("recgym.envs.datasets:KuaiRandEnv",
                           "recgym.envs.datasets:kuairand_vector_env"),
    "RecGym/MovieLens-v0": ("recgym.envs.datasets:MovieLensEnv",
                            "recgym.envs.datasets:movielens_vector_env"),
    "RecGym/LoggedReplay-v0": ("recgym.envs.replay:LoggedReplayEnv",
                               "recgym.envs.replay:replay_vector_env"),
}


def register_environments() -> None:
    """Register the ids above (once; re-importing is harmless)."""
    for env_id, (entry_point, vector_entry_point) in ENVIRONMENTS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point,
                     disable_env_checker=True)
