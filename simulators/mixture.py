"""`SimulatorMixture`: a `SimulatorSet` as one batched simulator whose rows each follow
one member (the member is drawn per user when it starts, Sim2Rec-style)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from offline_data.shared.errors import InputError
from simulators.interface import Feedback, RandomSource, rows_of
from simulators.logged import LoggedState, LoggedUserSimulator
from simulators.sim_set import SimulatorSet


@dataclass(frozen=True)
class MixtureState(LoggedState):
    """A `LoggedState` plus the index (into the set) of the member each row follows."""

    member: np.ndarray = None  # type: ignore[assignment]


class SimulatorMixture:
    """Rows of a batch simulated by different members of a `SimulatorSet`.

    `members` restricts which members `start` draws from (e.g. the training members, or
    the held-out ones). Every call groups the rows by member, so the cost is one batched
    call per member present.
    """

    def __init__(self, simulator_set: SimulatorSet, members: Sequence[int] | None = None
                 ) -> None:
        self.set = simulator_set
        chosen = list(range(len(simulator_set))) if members is None else list(members)
        if not chosen or any(not 0 <= m < len(simulator_set) for m in chosen):
            raise InputError(f"members must be indices in 0..{len(simulator_set) - 1}, got "
                             f"{list(members or [])}")
        self.allowed = np.array(chosen, dtype=np.int64)
        self.params = simulator_set.params
        first: LoggedUserSimulator = simulator_set[0]
        self.n_items, self.n_users = first.n_items, first.n_users
        self.signals = first.signals
        self.primary_signal = first.primary_signal
        self.history_len = first.history_len

    # ------------------------------------------------------------------ helpers for envs
    def user_features(self, user_ids: np.ndarray) -> np.ndarray:
        """Encoded user features (shared by all members)."""
        return self.set[0].user_features(user_ids)

    def item_embeddings(self) -> np.ndarray:
        """Item embeddings of the first member."""
        return self.set[0].item_embeddings()

    def members(self, state: MixtureState) -> np.ndarray:
        """(B,) the member each row follows (`HasMembers`)."""
        return state.member

    def member_params(self, state: MixtureState) -> np.ndarray:
        """(B, P) parameter vector of each row's member (`SimulatorSet.params`)."""
        return self.params[state.member]

    def signal_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Signal bounds across all members."""
        lows, highs = zip(*(m.signal_bounds() for m in self.set.members), strict=True)
        return np.min(lows, axis=0), np.max(highs, axis=0)

    # ------------------------------------------------------------------ simulator interface
    def start(self, user_ids: np.ndarray, rng: RandomSource, history: str = "log"
              ) -> MixtureState:
        """Draw a member per user from the allowed ones, then start the users there."""
        ids = np.asarray(user_ids, dtype=np.int64)
        pick = np.minimum((rng.random(len(ids)) * len(self.allowed)).astype(np.int64),
                          len(self.allowed) - 1)
        member = self.allowed[pick]
        base = self.set[0].start(ids, rng, history=history)
        return MixtureState(**base.__dict__, member=member)

    def respond(self, state: MixtureState, slates: np.ndarray, rng: RandomSource) -> Feedback:
        """Each row answered by its own member."""
        out: Feedback = {s.name: np.zeros(np.shape(slates), np.float32) for s in self.signals}
        for idx, sim in self._groups(state):
            part = sim.respond(state.take(idx), np.asarray(slates)[idx], rows_of(rng, idx))
            for name, values in part.items():
                out[name][idx] = values
        return out

    def step_state(self, state: MixtureState, slates: np.ndarray, feedback: Feedback
                   ) -> MixtureState:
        """Histories and counters updated (the same for every member; the member field
        is kept, as the state is updated with `dataclasses.replace`)."""
        return cast(MixtureState, self.set[0].step_state(state, slates, feedback))

    def leave_prob(self, state: MixtureState, feedback: Feedback) -> np.ndarray:
        """Each row's member's leave probability."""
        return self._gather(state, lambda sim, idx, sub: sim.leave_prob(
            sub, {k: v[idx] for k, v in feedback.items()}))

    def return_gap(self, state: MixtureState, rng: RandomSource) -> np.ndarray:
        """Each row's member's sampled return gap."""
        return self._gather(state, lambda sim, idx, sub: sim.return_gap(sub, rows_of(rng, idx)))

    def return_gap_mean(self, state: MixtureState) -> np.ndarray:
        """Each row's member's expected return gap."""
        return self._gather(state, lambda sim, idx, sub: sim.return_gap_mean(sub))

    def predict(self, state: MixtureState, items: np.ndarray) -> dict[str, np.ndarray]:
        """Each row's member's marginal predictions."""
        out = {s.name: np.zeros(np.shape(items), np.float32) for s in self.signals}
        for idx, sim in self._groups(state):
            for name, values in sim.predict(state.take(idx), np.asarray(items)[idx]).items():
                out[name][idx] = values
        return out

    def next_session(self, state: MixtureState, gap_s: np.ndarray) -> MixtureState:
        """Session counters reset (the same for every member)."""
        return cast(MixtureState, self.set[0].next_session(state, gap_s))

    def _groups(self, state: MixtureState) -> list[tuple[np.ndarray, LoggedUserSimulator]]:
        return [(np.flatnonzero(state.member == m), self.set[int(m)])
                for m in np.unique(state.member)]

    def _gather(self, state: MixtureState,
                call: Callable[[LoggedUserSimulator, np.ndarray, Any], np.ndarray]) -> np.ndarray:
        out = np.zeros(len(state))
        for idx, sim in self._groups(state):
            out[idx] = call(sim, idx, state.take(idx))
        return out
