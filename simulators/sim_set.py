"""`SimulatorSet`: K fitted simulators that disagree where the data is thin (Sim2Rec).

Members differ by bootstrap resamples of users, seeds, embedding sizes and widths, feature
dropout, and explicit behaviour perturbations (click temperature, popularity bias, leave
and return scales). Each member has a parameter vector describing how it was made and its
own held-out fidelity. Members whose click AUC falls more than `max_auc_gap` below the best
have their behaviour perturbation shrunk until they are within it: diversity, no nonsense.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from offline_data.log import InteractionLog
from offline_data.shared.atomic import atomic_directory
from offline_data.shared.errors import InputError
from offline_data.shared.numbers import as_int
from simulators.fidelity import HeldOut, binary_metrics, held_out, predict_rows
from simulators.fitting import fit, resolve_signals
from simulators.logged import LoggedUserSimulator
from simulators.persistence import SimulatorFileError, load_simulator, write_simulator_files
from simulators.sim_config import Behaviour, SimulatorConfig

SET_FILE = "simulator_set.json"
PARAM_NAMES = ("bootstrap", "embed_dim", "width", "feature_dropout", "click_temperature",
               "popularity_bias", "leave_scale", "return_scale")
"""What a member's parameter vector describes (its seed is kept in the spec, not here)."""


@dataclass(frozen=True)
class MemberSpec:
    """How one member was made."""

    seed: int
    bootstrap: bool
    embed_dim: int
    width: int
    feature_dropout: float
    behaviour: Behaviour

    def __post_init__(self) -> None:
        for name in ("seed", "embed_dim", "width"):  # numpy integers stored as plain ints
            object.__setattr__(self, name, as_int(getattr(self, name), f"MemberSpec.{name}"))

    @property
    def params(self) -> np.ndarray:
        """The member's parameter vector, in the order of `PARAM_NAMES`."""
        b = self.behaviour
        return np.array([float(self.bootstrap), self.embed_dim, self.width,
                         self.feature_dropout, b.click_temperature, b.popularity_bias,
                         b.leave_scale, b.return_scale])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemberSpec:
        """Inverse of `to_dict`."""
        return cls(**{**data, "behaviour": Behaviour(**data["behaviour"])})


def member_specs(k: int, base: SimulatorConfig, seed: int, spread: float = 1.0
                 ) -> list[MemberSpec]:
    """K member recipes: member 0 is the plain fit; the others draw their variations.

    `spread` scales the range of the behaviour perturbations (1: click temperature and
    leave / return scales within exp(+-0.3 / 0.4), popularity bias within +-0.3; 2: twice
    as wide, members that differ more)."""
    k, seed = as_int(k, "k", minimum=1), as_int(seed, "seed")
    if not (isinstance(spread, (int, float)) and 0 <= spread <= 5):
        raise InputError(f"spread must be a number in 0..5, got {spread!r}")
    r = float(spread)
    width = base.hidden[0]
    specs = [MemberSpec(base.seed, False, base.embed_dim, width, base.feature_dropout,
                        Behaviour())]
    for i in range(1, k):
        rng = np.random.default_rng([seed, 7, i])
        specs.append(MemberSpec(
            seed=int(rng.integers(0, 2**31 - 1)),
            bootstrap=True,
            embed_dim=int(rng.choice([16, 32, 48])),
            width=int(rng.choice([64, 128, 192])),
            feature_dropout=round(float(rng.uniform(0.0, 0.2)), 3),
            behaviour=Behaviour(
                click_temperature=round(float(np.exp(r * rng.uniform(-0.3, 0.3))), 3),
                popularity_bias=round(float(r * rng.uniform(-0.3, 0.3)), 3),
                leave_scale=round(float(np.exp(r * rng.uniform(-0.4, 0.4))), 3),
                return_scale=round(float(np.exp(r * rng.uniform(-0.4, 0.4))), 3),
            ),
        ))
    return specs


def _fit_member(train: InteractionLog, config: SimulatorConfig, spec: MemberSpec
                ) -> LoggedUserSimulator:
    """Fit one member from its recipe (bootstrap resample of the users present)."""
    weights = None
    if spec.bootstrap:
        present = np.unique(train.interactions["user_id"].to_numpy())
        draws = np.random.default_rng(spec.seed).choice(present, size=len(present))
        weights = np.bincount(draws, minlength=train.n_users)
    member_config = config.replace(
        seed=spec.seed, embed_dim=spec.embed_dim, hidden=(spec.width, max(spec.width // 2, 16)),
        feature_dropout=spec.feature_dropout, behaviour=Behaviour())
    return fit(train, member_config, user_weights=weights).with_behaviour(spec.behaviour)


def resolve_primary(log: InteractionLog, config: SimulatorConfig) -> str:
    """The name of the primary signal `fit` would choose."""
    signals, primary = resolve_signals(log, config)
    return signals[primary].name


class SimulatorSet:
    """A set of fitted simulators with their recipes, fidelity and a train / held-out split.

    Environments sample one member per episode; agents are trained on the `train` members
    and tested on the `heldout` ("unseen") ones.
    """

    def __init__(self, members: list[LoggedUserSimulator], specs: list[MemberSpec],
                 fidelity: list[dict[str, float]], heldout: tuple[int, ...] = (),
                 report: dict[str, Any] | None = None) -> None:
        if not members or len(members) != len(specs) or len(specs) != len(fidelity):
            raise InputError("a SimulatorSet needs one spec and one fidelity entry per member")
        first = (members[0].n_users, members[0].n_items, tuple(members[0].signal_names))
        for i, m in enumerate(members):
            if (m.n_users, m.n_items, tuple(m.signal_names)) != first:
                raise InputError(
                    f"simulator set member {i} has {m.n_users} users, {m.n_items} items and "
                    f"signals {m.signal_names}, member 0 {first[0]} users, {first[1]} items "
                    f"and signals {list(first[2])}: every member must be fitted on the same "
                    "log")
        heldout = tuple(as_int(i, "SimulatorSet heldout index") for i in heldout)
        bad = [i for i in heldout if not 0 <= i < len(members)]
        if bad:
            raise InputError(f"held-out member indices {bad} are outside 0..{len(members) - 1}")
        self.members = list(members)
        self.specs = list(specs)
        self.fidelity = list(fidelity)
        self.heldout = tuple(sorted(set(heldout)))
        self.report = report or {}

    # ------------------------------------------------------------------ building
    @classmethod
    def fit(
        cls,
        log: InteractionLog,
        k: int = 8,
        *,
        config: SimulatorConfig | None = None,
        n_heldout: int = 2,
        seed: int = 0,
        test_fraction: float = 0.1,
        max_auc_gap: float = 0.02,
        split: HeldOut | None = None,
        spread: float = 1.0,
    ) -> SimulatorSet:
        """Fit `k` diverse members on `log` (minus its held-out part, which measures each
        member's fidelity) and mark `n_heldout` of them as unseen.

        A member whose click AUC on the late training rows is more than `max_auc_gap` below
        the best first has its popularity bias softened, then is refitted (new seed, then
        without the bootstrap); if it still falls short, a warning says so and the report
        lists it under `members_outside_band`. `spread` widens (or narrows) the behaviour
        perturbations (see `member_specs`).
        """
        k = as_int(k, "SimulatorSet.fit k")
        if k < 2:
            raise InputError(f"a simulator set needs k >= 2 members, got {k}")
        n_heldout = as_int(n_heldout, "SimulatorSet.fit n_heldout")
        seed = as_int(seed, "SimulatorSet.fit seed")
        if not 0 <= n_heldout < k:
            raise InputError(f"n_heldout must be in 0..{k - 1}, got {n_heldout}")
        config = config or SimulatorConfig()
        split = split or held_out(log, test_fraction)
        train = split.train(log)
        specs = member_specs(k, config, seed, spread)
        primary = log.signal(resolve_primary(log, config)).name
        # members are gated on the late part of the training window (never fitted on,
        # only used for early stopping), and reported on the held-out part
        gate_rows = train.interactions["timestamp"].to_numpy() >= (
            train.end_time - config.val_fraction * (train.end_time - train.start_time))
        if gate_rows.all() or not gate_rows.any():
            gate_rows = np.ones(train.n_interactions, dtype=bool)
        y_gate = train.interactions[primary].to_numpy(dtype=np.float64)[gate_rows]

        def gate_auc(member: LoggedUserSimulator) -> float:
            p = predict_rows(member, train, gate_rows)[primary]
            return binary_metrics(y_gate, p)["auc"]

        members = [_fit_member(train, config, spec) for spec in specs]
        aucs = [gate_auc(m) for m in members]
        best = max(aucs)
        for i in range(k):
            for attempt in range(8):
                if aucs[i] >= best - max_auc_gap:
                    break
                if attempt < 5:  # first soften the perturbation that can move AUC
                    bh = members[i].behaviour
                    milder = replace(bh, popularity_bias=bh.popularity_bias / 2)
                    members[i] = members[i].with_behaviour(milder)
                    specs[i] = replace(specs[i], behaviour=milder)
                else:  # then refit the member: a new seed, and the full data at last
                    specs[i] = replace(specs[i], seed=specs[i].seed + 1,
                                       bootstrap=specs[i].bootstrap and attempt < 7)
                    members[i] = _fit_member(train, config, specs[i])
                aucs[i] = gate_auc(members[i])
        outside = [i for i in range(k) if aucs[i] < best - max_auc_gap]
        for i in outside:
            warnings.warn(f"simulator set member {i} stays {best - aucs[i]:.3f} AUC below the "
                          f"best after refitting (band {max_auc_gap}); the log may be too "
                          f"small for a set of {k}", stacklevel=2)
        mask = split.signal_mask
        y = log.interactions[primary].to_numpy(dtype=np.float64)[mask]
        preds = [predict_rows(m, log, mask)[primary] for m in members]
        fidelity = [{f"{primary}_{key}": v for key, v in binary_metrics(y, p).items()}
                    | {f"{primary}_gate_auc": a} for p, a in zip(preds, aucs, strict=True)]
        disagreement = np.std(np.stack(preds), axis=0)
        heldout = tuple(range(k - n_heldout, k))
        report = {"held_out": split.description,
                  "disagreement": float(disagreement.mean()),
                  "disagreement_p90": float(np.quantile(disagreement, 0.9)), "primary": primary,
                  "max_auc_gap": max_auc_gap, "members_outside_band": outside,
                  "spread": float(spread)}
        return cls(members, specs, fidelity, heldout, report)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, index: int) -> LoggedUserSimulator:
        return self.members[as_int(index, "SimulatorSet index")]

    @property
    def params(self) -> np.ndarray:
        """(K, len(PARAM_NAMES)) parameter vectors of the members."""
        return np.stack([s.params for s in self.specs])

    @property
    def train_indices(self) -> tuple[int, ...]:
        """Members for training agents."""
        return tuple(i for i in range(len(self)) if i not in self.heldout)

    def split(self, n_heldout: int | None = None) -> tuple[SimulatorSet, SimulatorSet]:
        """(training members, held-out members) as two sets; `n_heldout` re-chooses how
        many of the last members are held out."""
        heldout = self.heldout if n_heldout is None else tuple(
            range(len(self) - as_int(n_heldout, "split n_heldout", minimum=0), len(self)))
        if not 0 < len(heldout) < len(self):
            raise InputError(f"split needs 1..{len(self) - 1} held-out members, got "
                             f"{len(heldout)}")
        train = [i for i in range(len(self)) if i not in heldout]
        return self.subset(train), self.subset(list(heldout))

    def subset(self, indices: list[int]) -> SimulatorSet:
        """The members at `indices` (none held out)."""
        indices = [as_int(i, "subset index") for i in indices]
        bad = [i for i in indices if not 0 <= i < len(self)]
        if bad:
            raise InputError(f"member indices {bad} are outside 0..{len(self) - 1}")
        return SimulatorSet([self.members[i] for i in indices], [self.specs[i] for i in indices],
                            [self.fidelity[i] for i in indices], (), self.report)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: each member's params and fidelity, disagreement."""
        return {
            "param_names": list(PARAM_NAMES),
            "members": [{"index": i, "params": dict(zip(PARAM_NAMES, s.params.tolist(),
                                                        strict=True)),
                         "heldout": i in self.heldout, **self.fidelity[i]}
                        for i, s in enumerate(self.specs)],
            **self.report,
        }

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write `simulator_set.json` and one simulator folder per member (atomic)."""
        with atomic_directory(directory, overwrite=overwrite, marker=SET_FILE) as tmp:
            self.write_files(tmp)
        return Path(directory)

    def write_files(self, folder: Path) -> None:
        """Write the set into an existing (temporary) folder."""
        for i, member in enumerate(self.members):
            path = folder / f"member_{i:02d}"
            path.mkdir()
            write_simulator_files(member, path)
        meta = {"format": "recgym-simulator-set", "version": 1,
                "specs": [s.to_dict() for s in self.specs], "fidelity": self.fidelity,
                "heldout": list(self.heldout), "report": self.report}
        (folder / SET_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> SimulatorSet:
        """Read a folder written by `save` (weights only, never unpickled code)."""
        folder = Path(directory)
        path = folder / SET_FILE
        if not path.is_file():
            raise SimulatorFileError(
                f"{folder}: no {SET_FILE}; this is not a folder written by SimulatorSet.save")
        try:
            meta = json.loads(path.read_text())
            specs = [MemberSpec.from_dict(s) for s in meta["specs"]]
            fidelity, heldout, report = meta["fidelity"], meta["heldout"], meta["report"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SimulatorFileError(f"{path}: unreadable ({exc})") from None
        members = [load_simulator(folder / f"member_{i:02d}", device=device)
                   for i in range(len(specs))]
        try:
            return cls(members, specs, fidelity, tuple(heldout), report)
        except InputError as exc:
            raise SimulatorFileError(f"{folder}: {exc}") from None
