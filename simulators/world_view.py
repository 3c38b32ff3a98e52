"""The synthetic world seen through a fitted simulator's eyes: the same users, items,
signals and observable features, so a policy trained on simulators fitted to the world's
log can be deployed in the world itself (the sim-to-real test of Sim2Rec)."""

from __future__ import annotations

import numpy as np

from offline_data.log import InteractionLog
from offline_data.shared.errors import InputError
from simulators.interface import Feedback, RandomSource
from simulators.logged import LoggedUserSimulator
from simulators.synthetic import SyntheticWorld, WorldState


class WorldAsLogged:
    """A `SyntheticWorld` behind the ids, signal order, signal bounds and user features of
    a simulator fitted to a log of that world.

    User `u` of the view is the world's user `log.user_ids[u]`, item `i` is the world's item
    `log.item_ids[i]`; observable user features are the fitted simulator's encoding, so
    observations have exactly the spaces of the fitted simulator's environments. Responses,
    leaving and returning are the world's own.
    """

    def __init__(self, world: SyntheticWorld, log: InteractionLog,
                 fitted: LoggedUserSimulator) -> None:
        self.world = world
        raw_users, raw_items = np.asarray(log.user_ids), np.asarray(log.item_ids)
        if raw_users.dtype.kind not in "iu" or raw_items.dtype.kind not in "iu":
            raise InputError("the log's raw user / item ids are not integers, so not ids of a "
                             "synthetic world; pass the log the world generated")
        self.user_map = raw_users.astype(np.int64)
        self.item_map = raw_items.astype(np.int64)
        if (len(self.user_map) != fitted.n_users or len(self.item_map) != fitted.n_items):
            raise InputError(f"the fitted simulator has {fitted.n_users} users and "
                             f"{fitted.n_items} items, the log {len(self.user_map)} and "
                             f"{len(self.item_map)}: pass the log it was fitted on")
        if (self.user_map.min(initial=0) < 0 or self.user_map.max(initial=0) >= world.n_users
                or self.item_map.max(initial=0) >= world.n_items
                or self.item_map.min(initial=0) < 0):
            raise InputError("the log's raw user / item ids are not ids of this world; pass "
                             "the world that generated the log")
        world_names = sorted(s.name for s in world.signals)
        if sorted(s.name for s in fitted.signals) != world_names:
            raise InputError(f"the fitted simulator models {fitted.signal_names}, the world "
                             f"{world_names}: fit it on every signal of the world's log")
        self.signals = list(fitted.signals)
        self.primary_signal = fitted.primary_signal
        self.n_users, self.n_items = fitted.n_users, fitted.n_items
        self.fitted = fitted
        self._bounds = fitted.signal_bounds()

    def user_features(self, user_ids: np.ndarray) -> np.ndarray:
        """The fitted simulator's encoded features of these users."""
        return self.fitted.user_features(user_ids)

    def item_embeddings(self) -> np.ndarray:
        """The fitted simulator's item embeddings (what a policy trained on it knows)."""
        return self.fitted.item_embeddings()

    def signal_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The fitted simulator's signal bounds (the observation boxes must match)."""
        return self._bounds

    def click_prob(self, state: WorldState, items: np.ndarray) -> np.ndarray:
        """The world's true click probability of view items shown to every user."""
        return self.world.click_prob(state, self.item_map[np.asarray(items)])

    def predict(self, state: WorldState, items: np.ndarray) -> dict[str, np.ndarray]:
        """The world's expected signals of view items (`SyntheticWorld.predict`)."""
        expected = self.world.predict(state, self.item_map[np.asarray(items)])
        return {s.name: expected[s.name] for s in self.signals}

    # ------------------------------------------------------------------ simulator interface
    def start(self, user_ids: np.ndarray, rng: RandomSource) -> WorldState:
        """The world's users behind the view's ids, at the start of their first session."""
        return self.world.start(self.user_map[np.asarray(user_ids, dtype=np.int64)], rng)

    def respond(self, state: WorldState, slates: np.ndarray, rng: RandomSource) -> Feedback:
        """The world's feedback, signals named as the fitted simulator's."""
        feedback = self.world.respond(state, self.item_map[np.asarray(slates)], rng)
        return {s.name: feedback[s.name] for s in self.signals}

    def step_state(self, state: WorldState, slates: np.ndarray, feedback: Feedback
                   ) -> WorldState:
        """The world's state update."""
        return self.world.step_state(state, self.item_map[np.asarray(slates)], feedback)

    def leave_prob(self, state: WorldState, feedback: Feedback) -> np.ndarray:
        """The world's leave probability."""
        return self.world.leave_prob(state, feedback)

    def return_gap(self, state: WorldState, rng: RandomSource) -> np.ndarray:
        """The world's return gap."""
        return self.world.return_gap(state, rng)

    def return_gap_mean(self, state: WorldState) -> np.ndarray:
        """The world's expected return gap."""
        return self.world.return_gap_mean(state)

    def next_session(self, state: WorldState, gap_s: np.ndarray) -> WorldState:
        """The world's next session."""
        return self.world.next_session(state, gap_s)
