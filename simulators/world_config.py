"""Parameters of the ground-truth synthetic world, with documented defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields

from offline_data.shared.config import ConfigMixin
from offline_data.shared.errors import InputError
from offline_data.shared.numbers import as_int, is_real


@dataclass(frozen=True)
class WorldConfig(ConfigMixin):
    """Every parameter of `SyntheticWorld`. The defaults give a world in which clicks and
    long-term engagement conflict: clickbait items draw clicks but satisfy less, and
    repetition bores users, so a click-greedy recommender loses users sooner.

    Click logit of user u for item i at slate position j:
    `click_bias + user_bias_u + affinity_scale * <interest_u, emb_i>
     + popularity_scale * pop_i + appeal_scale * appeal_i
     - boredom_scale * boredom_u[topic_i] - repeat_scale * recent_u(i) - position_decay * j`,
    where recent_u(i) sums repeat_decay ** age over the recent times item i was shown.
    """

    # population
    n_users: int = 2000
    """Users in the population (ids 0..n_users-1)."""
    n_items: int = 500
    """Items (ids 0..n_items-1)."""
    n_topics: int = 20
    """Item topics; each item has one, boredom is tracked per topic."""
    embed_dim: int = 16
    """Dimension of user interests and item embeddings."""
    topic_spread: float = 0.6
    """Spread of item embeddings around their topic centre (0: all items of a topic alike)."""
    topics_per_user: int = 3
    """Topics a user's initial interest mixes."""
    clickbait_corr: float = 0.6
    """Negative correlation between an item's appeal (draws clicks) and its quality."""

    # click response
    click_bias: float = -1.5
    user_bias_std: float = 0.3
    """Spread of users' general click propensity."""
    affinity_scale: float = 2.5
    popularity_scale: float = 0.4
    appeal_scale: float = 0.8
    boredom_scale: float = 0.8
    position_decay: float = 0.3
    """Click logit lost per slate position (position bias)."""

    # like and watch response (given a click)
    like_bias: float = -2.0
    like_affinity: float = 1.5
    like_quality: float = 1.5
    watch_bias: float = -0.3
    watch_affinity: float = 1.0
    watch_quality: float = 1.2
    watch_boredom: float = 0.3
    watch_noise: float = 0.3
    """Log-normal noise of the watch ratio around its mean."""
    watch_cap: float = 2.0
    """Watch ratios are clipped to [0, watch_cap]."""
    satisfaction_watch_weight: float = 0.6
    """A consumed item's satisfaction is w * min(watch, 1) + (1 - w) * like."""

    # state dynamics
    interest_drift: float = 0.05
    """How far interest moves toward each consumed item's embedding."""
    boredom_shown: float = 0.3
    """Boredom added to a topic each time one of its items is shown."""
    boredom_clicked: float = 0.7
    """Extra boredom added when the item is clicked."""
    boredom_decay: float = 0.85
    """Per-step decay of boredom within a session."""
    boredom_halflife_h: float = 8.0
    repeat_scale: float = 1.5
    """Click logit lost when the item itself was shown recently, times repeat_decay ** age
    (age 0: the step before): people rarely open the same video twice in a row."""
    repeat_decay: float = 0.8
    repeat_window: int = 20
    """Steps (across sessions) over which shown items are remembered."""
    """Half-life of boredom between sessions (hours)."""
    satisfaction_memory: float = 0.7
    """Weight of the past in the satisfaction moving average."""
    satisfaction_ref: float = 0.25
    """Satisfaction at which leave and return are at their base rates."""

    # leaving
    leave_bias: float = -3.0
    """Base per-step leave logit (about 5% per step)."""
    patience_std: float = 0.4
    leave_dissatisfaction: float = 4.0
    """Leave logit added per unit of satisfaction below the reference."""
    leave_fatigue: float = 0.04
    """Leave logit added per step already taken in the session."""
    leave_no_click: float = 0.4
    """Leave logit added after a step without a click."""
    max_session_steps: int = 200
    """Hard cap on steps per session."""

    # returning
    return_mean_h: float = 20.0
    """Mean gap between sessions of an average user at reference satisfaction (hours)."""
    return_satisfaction: float = 3.0
    """Log-gap lost per unit of session satisfaction above the reference."""
    return_noise: float = 0.6
    """Log-normal spread of return gaps."""
    activity_std: float = 0.5
    """Spread of users' log activity (their base return rate)."""
    min_gap_h: float = 1.0
    """Shortest gap between sessions (hours); must exceed the log's session gap."""

    # time
    step_overhead_s: float = 4.0
    """Seconds per step besides watching."""
    mean_duration_s: float = 30.0
    """Mean item duration (seconds)."""

    def __post_init__(self) -> None:
        # any integral / real type (numpy scalars too), stored as plain int / float
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int":
                value = as_int(value, f"WorldConfig.{f.name}")
            elif not is_real(value):
                raise InputError(f"WorldConfig.{f.name} must be a number, got {value!r}")
            else:
                value = float(value)
            object.__setattr__(self, f.name, value)
        positive = ("n_users", "n_items", "n_topics", "embed_dim", "topics_per_user",
                    "max_session_steps", "return_mean_h", "min_gap_h", "mean_duration_s",
                    "repeat_window")
        for name in positive:
            if getattr(self, name) <= 0:
                raise InputError(f"WorldConfig.{name} must be positive, got {getattr(self, name)}")
        if self.topics_per_user > self.n_topics:
            raise InputError(
                f"WorldConfig.topics_per_user ({self.topics_per_user}) exceeds n_topics "
                f"({self.n_topics})"
            )
        for name in ("clickbait_corr", "boredom_decay", "satisfaction_memory",
                     "satisfaction_watch_weight", "repeat_decay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"WorldConfig.{name} must be in [0, 1], got {getattr(self, name)}")
