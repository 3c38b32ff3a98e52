"""`RecGym/KuaiRand-v0` and `RecGym/MovieLens-v0`: a simulator fitted to a dataset folder
(fitted once, then loaded from a cache beside the data)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offline_data.kuairand import load_kuairand
from offline_data.log import InteractionLog
from offline_data.movielens import load_movielens
from offline_data.shared.atomic import atomic_directory
from offline_data.shared.errors import InputError
from recgym.envs.base import RecEnv
from recgym.envs.vector import RecVectorEnv
from simulators.fitting import fit
from simulators.logged import LoggedUserSimulator
from simulators.persistence import META_FILE, VERSION, write_simulator_files
from simulators.sim_config import SimulatorConfig

logger = logging.getLogger("recgym")
CACHE_NAME = ".recgym-simulator"
FINGERPRINT = "fingerprint.json"


def _fingerprint(folder: Path, loader_kwargs: dict[str, Any], config: SimulatorConfig
                 ) -> dict[str, Any]:
    files = {p.name: [p.stat().st_size, p.stat().st_mtime_ns]
             for p in sorted(folder.iterdir()) if p.is_file()}
    # the saved format's version: a cache written by an older recgym is refitted
    return {"files": files, "loader": loader_kwargs, "config": config.to_dict(),
            "format_version": VERSION}


def cached_simulator(
    data_path: str | Path | None,
    loader: Callable[..., InteractionLog],
    env_id: str,
    cache_dir: str | Path | None = None,
    fit_config: SimulatorConfig | dict[str, Any] | None = None,
    loader_kwargs: dict[str, Any] | None = None,
) -> LoggedUserSimulator:
    """Load the simulator cached for `data_path`, or fit one on the whole log and cache it
    (default cache: `<data_path>/.recgym-simulator`). The cache is refitted when the data
    files, the loader arguments, the fit configuration or the saved format change."""
    if data_path is None:
        raise InputError(f"{env_id} needs data_path= (the dataset folder)")
    folder = Path(data_path)
    if not folder.is_dir():
        raise InputError(f"{env_id}: data_path {folder} is not a folder; pass the dataset "
                         "folder")
    config = (fit_config if isinstance(fit_config, SimulatorConfig)
              else SimulatorConfig(**(fit_config or {})))
    loader_kwargs = dict(loader_kwargs or {})
    cache = Path(cache_dir) if cache_dir is not None else folder / CACHE_NAME
    stamp_data = _fingerprint(folder, loader_kwargs, config)
    stamp = cache / FINGERPRINT
    if (cache / META_FILE).is_file() and stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == json.loads(json.dumps(stamp_data)):
                return LoggedUserSimulator.load(cache)
        except json.JSONDecodeError:
            pass
    logger.warning("%s: fitting a simulator to %s (cached in %s)", env_id, folder, cache)
    sim = fit(loader(folder, **loader_kwargs), config)
    with atomic_directory(cache, overwrite=True, marker=META_FILE) as tmp:
        write_simulator_files(sim, tmp)
        (tmp / FINGERPRINT).write_text(json.dumps(stamp_data))
    return sim


_DOC = """Recommend to users simulated by a model fitted to a {name} folder.

    ## Description
    On first use a `LoggedUserSimulator` is fitted to the whole log in `data_path`
    ({loader}) and cached in `cache_dir` (default `<data_path>/.recgym-simulator`); later
    uses load the cache unless the data, `loader_kwargs` or `fit_config` changed. A folder
    without the expected files gives an error that names them.

    ## Spaces, Rewards, Episode End
    As `RecGym/Logged-v0`.

    ## Arguments
    | argument | meaning |
    |---|---|
    | `data_path` | the dataset folder |
    | `cache_dir` | where the fitted simulator is kept |
    | `fit_config` | a `SimulatorConfig` or dict of its fields |
    | `loader_kwargs` | passed to `{loader}` |
    | episode arguments | see `recgym.EnvConfig` |

    ## Version History
    - v0: initial version.
    """


class KuaiRandEnv(RecEnv):
    __doc__ = _DOC.format(name="KuaiRand", loader="offline_data.load_kuairand")

    def __init__(self, data_path: str | Path | None = None, cache_dir: str | Path | None = None,
                 fit_config: SimulatorConfig | dict[str, Any] | None = None,
                 loader_kwargs: dict[str, Any] | None = None, **env_kwargs: Any) -> None:
        super().__init__(cached_simulator(data_path, load_kuairand, "RecGym/KuaiRand-v0",
                                          cache_dir, fit_config, loader_kwargs), **env_kwargs)


class MovieLensEnv(RecEnv):
    __doc__ = _DOC.format(name="MovieLens", loader="offline_data.load_movielens")

    def __init__(self, data_path: str | Path | None = None, cache_dir: str | Path | None = None,
                 fit_config: SimulatorConfig | dict[str, Any] | None = None,
                 loader_kwargs: dict[str, Any] | None = None, **env_kwargs: Any) -> None:
        super().__init__(cached_simulator(data_path, load_movielens, "RecGym/MovieLens-v0",
                                          cache_dir, fit_config, loader_kwargs), **env_kwargs)


def kuairand_vector_env(num_envs: int, data_path: Any = None, cache_dir: Any = None,
                        fit_config: Any = None, loader_kwargs: Any = None,
                        **env_kwargs: Any) -> RecVectorEnv:
    """Vector entry point of `RecGym/KuaiRand-v0`."""
    sim = cached_simulator(data_path, load_kuairand, "RecGym/KuaiRand-v0", cache_dir,
                           fit_config, loader_kwargs)
    return RecVectorEnv(sim, num_envs, **env_kwargs)


def movielens_vector_env(num_envs: int, data_path: Any = None, cache_dir: Any = None,
                         fit_config: Any = None, loader_kwargs: Any = None,
                         **env_kwargs: Any) -> RecVectorEnv:
    """Vector entry point of `RecGym/MovieLens-v0`."""
    sim = cached_simulator(data_path, load_movielens, "RecGym/MovieLens-v0", cache_dir,
                           fit_config, loader_kwargs)
    return RecVectorEnv(sim, num_envs, **env_kwargs)
