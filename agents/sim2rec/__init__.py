"""Sim2Rec (Chen et al., ICDE 2023): an environment-parameter extractor over the user's
recent trajectory and a context-aware PPO trained across a simulator set, so one policy
transfers zero-shot to simulators (and a world) it has not seen."""
