"""Agents: online (stable-baselines3, DEERS, DRR), offline (d3rlpy, DT4IER) and baselines.

The top layer: it may import `recgym`, `simulators` and `offline_data`.
"""
