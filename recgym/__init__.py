"""recgym: Gymnasium environments for reinforcement-learning recommendation."""

__version__ = "0.1.0"
