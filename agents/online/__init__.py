"""Online agents: stable-baselines3 algorithms, DEERS, DRR, and the baselines."""
