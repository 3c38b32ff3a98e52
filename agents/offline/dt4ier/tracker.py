"""What a decision transformer remembers while it acts: for each sub-environment, the
sessions of the current episode (their returns-to-go, states and item lists), the
return-to-go still to reach, the user's recent clicks, and the list being served."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class EpisodeMemory:
    """One sub-environment's episode so far."""

    target: np.ndarray
    """(2,) the return-to-go still to reach (raw units)."""
    rtgs: list[np.ndarray] = field(default_factory=list)
    states: list[np.ndarray] = field(default_factory=list)
    observations: list[np.ndarray] = field(default_factory=list)
    """The flat observation at each session's start."""
    actions: list[np.ndarray] = field(default_factory=list)
    clicked: list[int] = field(default_factory=list)
    """Recently clicked items, most recent first."""
    queue: list[int] = field(default_factory=list)
    """Decoded items of the current session not served yet."""
    served: list[int] = field(default_factory=list)
    """Items served in the current session."""
    immediate: float = 0.0
    """The immediate signal summed over the current session's shown items."""
    shown: int = 0
    long_term: float = 0.0
    """Long-term reward received since the current session started."""
    steps: int = 0


class Memories:
    """`EpisodeMemory` of each sub-environment of a batch, reset where an episode starts
    (seen in the observation, or told by `end`)."""

    def __init__(self, size: int, target: np.ndarray, history: int, signal: int,
                 slate_size: int, n_items: int, replan: bool = False) -> None:
        self.target = target
        self.replan = replan
        self.history = history
        self.signal = signal
        self.slate_size = slate_size
        self.n_items = n_items
        self.episodes = [EpisodeMemory(target.copy()) for _ in range(size)]
        self.ended = np.ones(size, dtype=bool)

    def __len__(self) -> int:
        return len(self.episodes)

    def end(self, done: np.ndarray) -> None:
        """Mark the sub-environments whose episode ended (the next observation starts a new
        one)."""
        self.ended |= np.asarray(done, dtype=bool)

    def add_long_term(self, rewards: np.ndarray) -> None:
        """Add each sub-environment's long-term reward of the step just taken."""
        for memory, value in zip(self.episodes, rewards, strict=True):
            memory.long_term += float(value)

    def observe(self, batch: dict[str, np.ndarray], flat: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """Update every memory with its newest observation (`flat`: the same, flattened);
        returns which rows start a session (need a list decoded with a new session token)
        and which ran out of items (need more items for the same session)."""
        k = self.slate_size
        first_step = ((batch["session_index"][:, 0] == 0) & (batch["session_step"][:, 0] == 0)
                      & (batch["history_mask"].sum(axis=1) == 0))
        new_session = np.zeros(len(self), dtype=bool)
        refill = np.zeros(len(self), dtype=bool)
        for i, memory in enumerate(self.episodes):
            if first_step[i] or self.ended[i]:
                memory = self.episodes[i] = EpisodeMemory(self.target.copy())
                self.ended[i] = False
            else:
                items = batch["history_items"][i, :k][::-1]
                feedback = batch["history_feedback"][i, :k, self.signal][::-1]
                for item, value in zip(items, feedback, strict=True):
                    if value > 0 and item < self.n_items:
                        memory.clicked.insert(0, int(item))
                del memory.clicked[self.history:]
                memory.immediate += float(np.sum(feedback))
                memory.shown += k
            starts = memory.steps == 0 or batch["session_step"][i, 0] == 0
            if starts and memory.steps:
                rate = memory.immediate / max(memory.shown, 1)
                memory.target = memory.target - np.array([rate, memory.long_term])
                memory.immediate, memory.shown, memory.long_term = 0.0, 0, 0.0
                memory.queue, memory.served = [], []
            if starts:
                memory.rtgs.append(np.maximum(memory.target, 0.0))
                memory.states.append(self._state(memory))
                memory.observations.append(flat[i])
                memory.actions.append(np.empty(0, dtype=np.int64))
                new_session[i] = True
            elif self.replan:  # the session's token reads the current state instead
                memory.states[-1] = self._state(memory)
                memory.observations[-1] = flat[i]
                refill[i] = True
            elif len(memory.queue) < k:
                refill[i] = True
            memory.steps += 1
        return new_session, refill

    def _state(self, memory: EpisodeMemory) -> np.ndarray:
        """(H,) the recent clicks, padded with `n_items`."""
        state = np.full(self.history, self.n_items, dtype=np.int64)
        state[:len(memory.clicked)] = memory.clicked
        return state

    def serve(self) -> np.ndarray:
        """(B, k) the next slate of each sub-environment, taken from its queue."""
        k = self.slate_size
        slates = np.empty((len(self), k), dtype=np.int64)
        for i, memory in enumerate(self.episodes):
            slates[i] = memory.queue[:k]
            memory.served += memory.queue[:k]
            memory.queue = memory.queue[k:]
        return slates
