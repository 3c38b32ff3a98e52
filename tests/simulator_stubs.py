"""Simulator stand-ins for tests: a synthetic world behind fewer features."""

from __future__ import annotations

from simulators.synthetic import SyntheticWorld


class BareSimulator:
    """Only what `UserSimulator` requires (delegating to a synthetic world)."""

    def __init__(self, world: SyntheticWorld, with_users: bool = True) -> None:
        self.world = world
        self.n_items, self.signals = world.n_items, world.signals
        if with_users:
            self.n_users = world.n_users

    def start(self, user_ids, rng):
        return self.world.start(user_ids, rng)

    def respond(self, state, slates, rng):
        return self.world.respond(state, slates, rng)

    def step_state(self, state, slates, feedback):
        return self.world.step_state(state, slates, feedback)

    def leave_prob(self, state, feedback):
        return self.world.leave_prob(state, feedback)

    def return_gap(self, state, rng):
        return self.world.return_gap(state, rng)

    def next_session(self, state, gap_s):
        return self.world.next_session(state, gap_s)
