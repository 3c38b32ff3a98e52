"""The batched user-simulator interface every environment runs on."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from offline_data.schema import Signal
from offline_data.shared.errors import InputError

Feedback = dict[str, np.ndarray]
"""Feedback for a batch of slates: signal name -> float32 array of shape (batch, slate)."""

S = TypeVar("S", bound="BatchState")


def check_slates(slates: np.ndarray, batch: int, n_items: int) -> np.ndarray:
    """Return `slates` as an int64 (batch, slate) array, raising on bad shapes or ids."""
    slates = np.asarray(slates)
    if slates.ndim != 2 or slates.shape[0] != batch:
        raise InputError(f"slates must have shape (batch={batch}, slate_size), got {slates.shape}")
    if slates.size > 16:
        low, high = slates.min(), slates.max()
    elif slates.size:  # small batches: Python's min / max beat two numpy reductions
        values = slates.ravel().tolist()
        low, high = min(values), max(values)
    else:
        low, high = 0, 0
    if low < 0 or high >= n_items:
        raise InputError(f"slates hold item ids outside 0..{n_items - 1}")
    return slates.astype(np.int64, copy=False)


class BatchState:
    """Mixin for frozen dataclasses of arrays whose first axis is the batch of users."""

    def __len__(self) -> int:
        first = next(iter(self.__dataclass_fields__))  # type: ignore[attr-defined]
        return len(getattr(self, first))

    def take(self: S, index: np.ndarray) -> S:
        """The sub-batch of users at `index`."""
        return type(self)(*(getattr(self, f.name)[index] for f in dataclasses.fields(self)))  # type: ignore[arg-type]

    def where(self: S, mask: np.ndarray, other: S) -> S:
        """Rows of `other` where `mask` is True, rows of `self` elsewhere."""

        def pick(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), b, a)

        return type(self)(
            *(pick(getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self))  # type: ignore[arg-type]
        )

    def put(self: S, index: np.ndarray, rows: S) -> S:
        """A copy with the users at `index` replaced by `rows`."""
        def assign(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            out = a.copy()
            out[index] = b
            return out

        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        return type(self)(*(assign(getattr(self, f.name), getattr(rows, f.name)) for f in fields))

    @classmethod
    def concat(cls: type[S], states: list[S]) -> S:
        """Stack several batches into one."""
        return cls(*(np.concatenate([getattr(s, f.name) for s in states])
                     for f in dataclasses.fields(cls)))  # type: ignore[arg-type]


@runtime_checkable
class RandomSource(Protocol):
    """What simulators draw randomness from (a `numpy.random.Generator` fits).

    Simulators shape every draw with the batch of users as its first axis, so a source
    with one independent stream per row (`recgym.rng.RowRNG`) gives each user the same
    numbers whether it is simulated alone or in a batch. Such a source also offers
    `rows(index)`, a view that draws only for some rows (see `rows_of`).
    """

    def random(self, size: Any) -> Any:
        """Uniform numbers in [0, 1) of the given shape."""
        ...

    def standard_normal(self, size: Any) -> Any:
        """Standard normal numbers of the given shape."""
        ...


def make_distinct(slates: np.ndarray, n_items: int) -> np.ndarray:
    """Slates (B, k) with repeated ids replaced by the next ids not yet in the row (mod
    n_items); rows without repeats are unchanged."""
    out = np.array(slates, dtype=np.int64, copy=True)
    for j in range(1, out.shape[1]):
        while True:
            clash = (out[:, :j] == out[:, j:j + 1]).any(axis=1)
            if not clash.any():
                break
            out[clash, j] = (out[clash, j] + 1) % n_items
    return out


def rows_of(rng: RandomSource, index: np.ndarray) -> RandomSource:
    """The random source for a sub-batch: the rows' own streams when `rng` has them."""
    rows = getattr(rng, "rows", None)
    return rows(index) if rows is not None else rng


@runtime_checkable
class UserSimulator(Protocol):
    """A batch of simulated users: all methods act on many users in one array operation.

    A session runs `respond` -> `step_state` -> `leave_prob` per step; when a user leaves,
    `return_gap` samples the time until they come back and `next_session` starts it.
    States are values: methods return new states and never change the one passed in.
    Users are ids in 0..n_users-1, items ids in 0..n_items-1. Optional features are the
    small protocols below (`HasItemEmbeddings`, ...); environments check them once.
    """

    n_items: int
    n_users: int
    signals: list[Signal]

    def start(self, user_ids: np.ndarray, rng: RandomSource) -> Any:
        """State of the given users at the start of their first session."""
        ...

    def respond(self, state: Any, slates: np.ndarray, rng: RandomSource) -> Feedback:
        """Sampled feedback of each user to each item of its slate, shape (batch, slate)."""
        ...

    def step_state(self, state: Any, slates: np.ndarray, feedback: Feedback) -> Any:
        """State after the users saw `slates` and gave `feedback`."""
        ...

    def leave_prob(self, state: Any, feedback: Feedback) -> np.ndarray:
        """Probability, per user, that the session ends after this step, shape (batch,)."""
        ...

    def return_gap(self, state: Any, rng: RandomSource) -> np.ndarray:
        """Sampled seconds until each user's next session, shape (batch,)."""
        ...

    def next_session(self, state: Any, gap_s: np.ndarray) -> Any:
        """State at the start of the next session, `gap_s` seconds after the last one."""
        ...


# ---------------------------------------------------------------------- optional features
# Environments check these once, when they are built (`require_feature` names what is
# missing), never by probing attributes at each use.


@runtime_checkable
class HasPrimarySignal(Protocol):
    """Names the signal that comes first in observations (default: the first signal)."""

    primary_signal: str


@runtime_checkable
class HasSignalBounds(Protocol):
    """Declares the range of each signal (default: unbounded observation boxes)."""

    def signal_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest value of each signal, in the order of `signals`."""
        ...


@runtime_checkable
class HasUserFeatures(Protocol):
    """Observable user features (default: one zero feature)."""

    def user_features(self, user_ids: np.ndarray) -> np.ndarray:
        """(len(user_ids), d) features of the users."""
        ...


@runtime_checkable
class HasItemEmbeddings(Protocol):
    """Item embeddings for embedding-space actions (`ContinuousAction`, DRR, SAC / TD3)."""

    def item_embeddings(self) -> np.ndarray:
        """(n_items, d) embeddings."""
        ...


@runtime_checkable
class HasClickProb(Protocol):
    """The simulator's own probability of the primary signal (the synthetic world)."""

    def click_prob(self, state: Any, items: np.ndarray) -> np.ndarray:
        """(B, n) probabilities for (n,) item ids shown to every user; (B, k) for (B, k)
        slates, one per user (with the slate-position effects of `respond`)."""
        ...


@runtime_checkable
class PredictsResponses(Protocol):
    """Expected responses per signal (fitted simulators)."""

    def predict(self, state: Any, items: np.ndarray) -> dict[str, np.ndarray]:
        """Signal name -> (B, k) expected values for (B, k) item ids."""
        ...


@runtime_checkable
class HasMembers(Protocol):
    """Rows follow members of a simulator set (`SimulatorMixture`)."""

    def members(self, state: Any) -> np.ndarray:
        """(B,) index of the member each row follows."""
        ...

    def member_params(self, state: Any) -> np.ndarray:
        """(B, P) parameter vector of the member each row follows."""
        ...


@runtime_checkable
class OffersCandidates(Protocol):
    """The simulator chooses each row's candidates (candidate mode), e.g. the items a
    user rated (`simulators.replay.RatingReplay`)."""

    def candidates(self, state: Any, width: int, rng: RandomSource) -> np.ndarray:
        """(B, width) item ids offered to each row."""
        ...


@runtime_checkable
class KeepsHistory(Protocol):
    """The simulator defines the observed history (e.g. the user's recent positive items)
    instead of the environment's record of recommendations and feedback."""

    def history(self, state: Any) -> tuple[np.ndarray, np.ndarray]:
        """Items (B, L), most recent first (n_items: empty), and their signals (B, L, S)
        in the order of `signals`."""
        ...


class MissingFeatureError(InputError, TypeError):
    """A simulator lacks a feature an environment or agent asked for. An `InputError`
    (one line, what to do); also a `TypeError`, as Python raises for a missing method."""


def feature_members(feature: type) -> list[str]:
    """The attribute and method names a protocol declares."""
    names = set(vars(feature).get("__annotations__", {}))
    names |= {n for n, v in vars(feature).items() if callable(v) and not n.startswith("_")}
    return sorted(names)


def require_feature(simulator: object, feature: type, what: str) -> None:
    """Raise `MissingFeatureError` unless `simulator` provides the protocol `feature`;
    `what` says what needed it."""
    if not isinstance(simulator, feature):
        missing = [n for n in feature_members(feature) if not hasattr(simulator, n)]
        raise MissingFeatureError(
            f"{type(simulator).__name__} does not provide {feature.__name__} "
            f"({', '.join(missing) or 'its members'}), which {what} needs; use a simulator "
            "that implements it")
