"""`RecGym/KuaiRand-v0` and `RecGym/MovieLens-v0`: a simulator fitted to a dataset folder
(fitted once, then loaded from the user's cache folder)."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offline_data.kuairand import load_kuairand
from offline_data.log import InteractionLog
from offline_data.movielens import load_movielens
from offline_data.shared.atomic import atomic_directory
from offline_data.shared.cache import CACHE_ENV, cache_root, content_digest
from offline_data.shared.errors import InputError
from recgym.envs.base import RecEnv
from recgym.envs.vector import RecVectorEnv
from simulators.fitting import fit
from simulators.logged import LoggedUserSimulator
from simulators.persistence import (
    META_FILE,
    VERSION,
    SimulatorFileError,
    write_simulator_files,
)
from simulators.sim_config import SimulatorConfig

logger = logging.getLogger("recgym")
CACHE_SUBDIR = "simulators"
FINGERPRINT = "fingerprint.json"


def _data_files(folder: Path) -> list[Path]:
    """The files of a dataset folder that a fit reads (hidden files left out)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def simulator_fingerprint(folder: Path, loader_kwargs: dict[str, Any],
                          config: SimulatorConfig) -> dict[str, Any]:
    """What the cached simulator depends on: the data files' contents, the loader
    arguments, the fit settings and the saved format's version (a cache written by an
    older recgym is refitted)."""
    return {"data": content_digest(_data_files(folder)), "loader": loader_kwargs,
            "config": config.to_dict(), "format_version": VERSION}


def simulator_cache_dir(env_id: str, fingerprint: dict[str, Any],
                        cache_dir: str | Path | None = None) -> Path:
    """The cache folder of one fitted simulator: `<cache root>/simulators/<env>-<key>`,
    the key a digest of `fingerprint` (see `offline_data.shared.cache.cache_root`)."""
    key = hashlib.blake2b(json.dumps(fingerprint, sort_keys=True, default=str).encode(),
                          digest_size=8).hexdigest()
    name = env_id.split("/")[-1].lower()
    return cache_root(cache_dir) / CACHE_SUBDIR / f"{name}-{key}"


def cached_simulator(
    data_path: str | Path | None,
    loader: Callable[..., InteractionLog],
    env_id: str,
    cache_dir: str | Path | None = None,
    fit_config: SimulatorConfig | dict[str, Any] | None = None,
    loader_kwargs: dict[str, Any] | None = None,
) -> LoggedUserSimulator:
    """Load the simulator cached for `data_path`, or fit one on the whole log and cache it.

    The cache lives in the user's cache folder (`cache_dir`, else `$RECGYM_CACHE_DIR`,
    else `$XDG_CACHE_HOME/recgym`, else `~/.cache/recgym`), never in the data folder, so
    read-only datasets work. It is keyed by the data files' contents, the loader
    arguments, the fit settings and the saved format, and written atomically.
    """
    if data_path is None:
        raise InputError(f"{env_id} needs data_path= (the dataset folder)")
    folder = Path(data_path)
    if not folder.is_dir():
        raise InputError(f"{env_id}: data_path {folder} is not a folder; pass the dataset "
                         "folder")
    config = (fit_config if isinstance(fit_config, SimulatorConfig)
              else SimulatorConfig(**(fit_config or {})))
    loader_kwargs = dict(loader_kwargs or {})
    stamp_data = simulator_fingerprint(folder, loader_kwargs, config)
    cache = simulator_cache_dir(env_id, stamp_data, cache_dir)
    stamp = cache / FINGERPRINT
    if (cache / META_FILE).is_file() and stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == json.loads(json.dumps(stamp_data)):
                return LoggedUserSimulator.load(cache)
        except (json.JSONDecodeError, SimulatorFileError):
            logger.warning("%s: the cached simulator in %s is damaged; refitting", env_id,
                           cache)
    _check_writable(cache, env_id)
    logger.warning("%s: fitting a simulator to %s (cached in %s)", env_id, folder, cache)
    sim = fit(loader(folder, **loader_kwargs), config)
    with atomic_directory(cache, overwrite=True, marker=META_FILE) as tmp:
        write_simulator_files(sim, tmp)
        (tmp / FINGERPRINT).write_text(json.dumps(stamp_data))
    return sim


def _check_writable(cache: Path, env_id: str) -> None:
    """Fail before a long fit, not after, when the cache folder cannot be written."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache.parent):
            pass
    except OSError as exc:
        raise InputError(f"{env_id}: cannot write the simulator cache {cache} "
                         f"({exc.strerror or exc}); pass cache_dir= or set {CACHE_ENV} to a "
                         "writable folder") from None


_DOC = """Recommend to users simulated by a model fitted to a {name} folder.

    ## Description
    On first use a `LoggedUserSimulator` is fitted to the whole log in `data_path`
    ({loader}) and cached in the user's cache folder (`cache_dir`, else
    `$RECGYM_CACHE_DIR`, else `$XDG_CACHE_HOME/recgym`, else `~/.cache/recgym`), keyed by
    the data files' contents, `loader_kwargs` and `fit_config`; later uses with the same
    data and settings load it. Nothing is written into `data_path`, so a read-only dataset
    works. A folder without the expected files gives an error that names them.

    ## Spaces, Rewards, Episode End
    As `RecGym/Logged-v0`.

    ## Arguments
    | argument | meaning |
    |---|---|
    | `data_path` | the dataset folder |
    | `cache_dir` | cache root for the fitted simulator (default: the user's cache folder) |
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
