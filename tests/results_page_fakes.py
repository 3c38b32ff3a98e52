"""Small JSONs of the shape each benchmark of the results page prints, for
tests/test_results_page.py (numbers made up; shapes as the benchmarks write them)."""

from __future__ import annotations

from typing import Any

NAN = float("nan")

FIDELITY: dict[str, Any] = {
    "data": {"source": "synthetic(users=2000)", "interactions": 320_414, "users": 2000,
             "items": 500, "held_out": "sessions in the last 3.00 days (55,836 rows)"},
    "signals": {"click": {"auc": 0.691, "logloss": 0.55, "ece": 0.0032, "ece_noise": 0.0032},
                "watch_ratio": {"rmse": 0.173, "mae": 0.12}},
    "session_length": {"ks": 0.007, "log_mean": 10.22, "sim_mean": 10.19},
    "return_gap": {"ks": 0.02, "log_mean": 18.15, "sim_mean": 17.89},
    "fit": {"seconds": 47.5},
    "calibration": {"signals": {"click": {"ece_before": 0.0028, "ece_after": 0.0032}},
                    "uncalibrated_sessions": {
                        "session_length": {"ks": 0.037, "log_mean": 10.22, "sim_mean": 9.65},
                        "return_gap": {"ks": 0.022, "log_mean": 18.15, "sim_mean": 17.81}}},
    "baselines": {"click": {"popularity": {"auc": 0.646}, "user_item": {"auc": 0.671}},
                  "watch_ratio": {"popularity": {"rmse": 0.177}, "user_item": {"rmse": 0.176}}},
    "ground_truth": {"prob_corr": 0.952, "auc": 0.691, "oracle_auc": 0.711,
                     "session_length_world": 10.22, "session_length_sim": 10.19,
                     "session_length_rel_err": 0.003, "return_gap_world_h": 18.15,
                     "return_gap_sim_h": 17.89, "return_gap_rel_err": 0.014},
}

ONLINE_ROW = {"agent": "ppo (drr_att)", "steps": 400_000, "seconds_per_seed": 84.9,
              "ctr": 0.544, "like_rate": 0.169, "depth": 11.5, "retention": 0.72,
              "churn_rate": 0.094, "return_gap": 23.8, "total_return": 79.2,
              "total_return_seed_std": 0.7, "total_return_ci95": [77.1, 81.3]}

DRR_ROW = {"method": "drr-att", "avg_reward": 0.71, "avg_reward_ci95": [0.70, 0.72],
           "avg_reward_seed_sd": 0.01, "precision": 0.6, "ndcg": 0.85, "map": 0.7,
           "paper_avg_reward": 0.7466, "seconds_per_seed": 120.0}

LEADERBOARD_ROW = {
    "total_return": {"mean": 43.8, "lo": 43.1, "hi": 44.5, "per_seed": [43.4, 44.3, 43.7]},
    "ctr": {"mean": 0.639}, "retention": {"mean": 0.635}, "depth": {"mean": 9.44},
    "ope": {"pdis": [1.1, 1.0, 1.3], "wpdis": [3.9, 3.1, 4.7], "dr": [48.5, 47.8, 48.9],
            "fqe": [49.0, 48.9, 49.1]}, "fit_s": 30.0}

DT_METRICS = {m: [0.5, 0.4, 0.6] for m in (
    "total_return", "long_term_return", "retention", "churn_rate", "ctr", "like_rate",
    "train_s", "hr@10", "ndcg@10", "precision@10")}

SIM2REC_PART = {"wall_s": 900.0, "summary": {
    "sim2rec": {"train_s": [82.0, 85.0],
                "heldout": {"total_return": [52.0, 48.9, 55.1], "ctr": [0.5, 0.4, 0.6],
                            "retention": [0.6, 0.5, 0.7], "churn_rate": [0.1, 0.0, 0.2]},
                "world": {"total_return": [30.2, 29.3, 31.2], "ctr": [0.449, 0.4, 0.5],
                          "retention": [0.574, 0.5, 0.6], "churn_rate": [0.1, 0.0, 0.2]},
                "param_r2": {"r2": [-0.1, -0.28, 0.08]},
                "param_r2_train": {"r2": [0.0, -0.1, 0.1]}},
    "random": {"train_s": [0.1, 0.1],
               "heldout": {"total_return": [35.4, 35.3, 35.5], "ctr": [0.2, 0.2, 0.2],
                           "retention": [0.5, 0.5, 0.5], "churn_rate": [0.2, 0.2, 0.2]}}}}

RESULTS: dict[str, dict[str, Any]] = {
    "world_conflict": {"results": [
        {"policy": "click_greedy", "ctr": 0.764, "like_rate": 0.085, "watch_ratio": 0.212,
         "session_length": 10.3, "return_gap_h": 31.9, "clicks_per_user": 39.3}]},
    "fidelity_kuairand": FIDELITY,
    "fidelity_movielens": FIDELITY,
    "fidelity_synthetic": FIDELITY,
    "fidelity_unseen": FIDELITY,
    "simulator_throughput": {"results": [{"batch": 1024, "user_steps_per_s": 619_192,
                                          "full_step_user_steps_per_s": 512_610}],
                             "torch_threads": 2, "device": "cpu", "signals": ["click"]},
    "env_throughput": {"recsim_interest_evolution_steps_per_s": 10_581,
                       "recsim_runs": [10_581],
                       "results": [{"env": "RecGym/Synthetic-v0", "num_envs": 0,
                                    "user_steps_per_s": 12_849, "vs_recsim": 1.21,
                                    "runs": [12_849]},
                                   {"env": "RecGym/Synthetic-v0", "num_envs": 8192,
                                    "user_steps_per_s": 1_085_337, "vs_recsim": 102.57,
                                    "runs": [1_085_337]}]},
    "sweep_scaling": {"machine": "x86_64, 2 cores", "trials": 8, "steps_per_trial": 4000,
                      "plain_s": 19.8, "ray_1_worker_s": 24.9, "ray_2_workers_s": 14.1,
                      "ray_startup_s": 4.5, "overhead_per_trial_s": 0.64,
                      "speedup_2_over_1": 1.77},
    "loading": {"results": [{"case": "load_parquet (same rows)", "rows": 1_000_000,
                             "kept": 1_000_000, "seconds": 0.29, "rows_per_s": 3_396_000}]},
    "offline_data": {"build": {"rows": 222_869, "load_s": 2.02, "steps": 222_869,
                               "episodes": 56_726, "build_s": 4.61, "load_and_build_s": 6.64,
                               "peak_rss_mb_build": 923.0, "parquet_mb": 13.2,
                               "parquet_write_s": 4.5, "parquet_read_s": 5.48,
                               "peak_rss_mb": 1737.0}},
    "online_leaderboard": {"seeds": 3, "users": 500, "results": [
        ONLINE_ROW, {**ONLINE_ROW, "agent": "random", "steps": 0}]},
    "drr_reproduction": {"settings": {"episode_steps": 20}, "test_users": 189,
                         "train_users": 754, "wall_s": 3600.0,
                         "ceiling": {**DRR_ROW, "method": "ceiling", "paper_avg_reward": None},
                         "results": [DRR_ROW], "ordering": [
                             {"better": "drr-att", "worse": "drr-ave", "holds": False}]},
    "drr_ablation": {"results": [{"variant": "drr-att", "mean_return": 0.71,
                                  "ci95": [0.70, 0.72], "seed_sd": 0.01}]},
    "offline_agents": {"synthetic": {"dataset": "TrajectoryDataset(95,823 steps)",
                                     "steps": 5000, "seeds": 2, "rows": {
                                         "random": {"return": 28.5, "lo": 27.3, "hi": 29.7,
                                                    "ctr": 0.248},
                                         "cql": {"return": 67.3, "lo": 64.6, "hi": 70.0,
                                                 "ctr": 0.726, "steps_per_s": 134.0,
                                                 "per_seed_return": [67.1, 67.5]}}},
                       "kuairand": {"steps": 300, "steps_per_s": {"cql": 26.0}}},
    "ope_validation": {
        "dataset": {"episodes": 3000, "steps": 83_196, "mean_length": 27.7,
                    "logged_return": 26.1},
        "seconds": 677.0,
        "rows": [{"policy": "random", "truth": 20.0, "truth_ci95": [19.5, 20.5],
                  "estimator": "wdr", "estimate": 21.0, "ci95": [20.0, 22.0],
                  "rel_error": 0.05, "ess": 10.0, "max_weight": 3.0}],
        "estimators": {"wdr": {"spearman": NAN, "max_rel_error": 0.05,
                               "mean_rel_error": 0.05, "mean_signed_error": 0.05,
                               "covered": 0.0, "targets": 1.0}},
        "best": {"estimator": "wdr", "max_rel_error": 0.05, "spearman": NAN,
                 "error_goal_met": True, "rank_goal_met": False, "any_meeting_both": []}},
    "fqe_crosscheck": {"train_episodes": 1050, "heldout_episodes": 450, "rows": [
        {"policy": "unmasked", "exclude_seen": False, "truth": 21.54,
         "truth_ci95": [21.16, 21.91], "recgym_fqe": 19.74, "recgym_wdr": 15.28,
         "d3rlpy_fqe": 22.25, "recgym_s": 30.0, "d3rlpy_s": 20.0}]},
    "offline_leaderboard": {
        "args": {"part": "all"},
        "synthetic": {"epsilon_greedy": {"rows": {"cql": LEADERBOARD_ROW, "behaviour": {
            **LEADERBOARD_ROW, "ope": {"logged": [44.3, 42.1, 46.4]}}},
            "logged_return": [44.6, 43.2, 43.2], "explore": 0.1,
            "goal": "goal NOT met: best learner cql"}},
        "kuairand": {"rows": {"cql": LEADERBOARD_ROW}, "held_out_logged_return": 12.56,
                     "steps": 1500, "goal": "goal NOT met"}, "wall_s": 7000.0},
    "dt4ier_ablation": {"settings": {"users": 1000, "seeds": [0, 1, 2], "eval_users": 300},
                        "summary": {"DT4IER (full)": DT_METRICS,
                                    "random": {**DT_METRICS, "hr@10": [NAN, NAN, NAN]}},
                        "prompts": [{"seed": 0, "prompt": 0.8, "ctr": 0.57, "retention": 0.69,
                                     "long_term_return": 3.4, "total_return": 65.6}]},
    "dt4ier_cost": {"kuairand": {"episodes_s": 3.5, "s_per_100_steps": 70.0,
                                 "peak_rss_mb": 1900.0, "device": "cpu"},
                    "peer": {"episodes_s": 3.5, "s_per_100_steps": 14.0, "peak_rss_mb": 1400.0},
                    "smoke": {"data_s": 2.0, "train_400_steps_s": 18.0, "peak_rss_mb": 539.0}},
    "sim2rec_transfer": {"args": {"seeds": 3, "steps": 80_000, "history": 10, "spread": 1.0},
                         "synthetic": SIM2REC_PART, "kuairand": SIM2REC_PART},
    "sim2rec_transfer_spread": {"args": {"seeds": 3, "steps": 80_000, "history": 50,
                                         "spread": 3.0}, "synthetic": SIM2REC_PART},
}
"""Per section, a JSON of its benchmark's shape."""

EXPECTED: dict[str, str] = {
    "world_conflict": "| click_greedy | 0.764 | 0.085 | 0.212 | 10.3 | 31.9 | 39.3 |",
    "fidelity_kuairand": "| click | AUC | **0.691** | 0.646 | 0.671 | 0.0028 -> 0.0032 | 0.0032 |",
    "fidelity_movielens": "| session length (steps) | 10.22 | 9.65 (0.037) | 10.19 (0.007) |",
    "fidelity_synthetic": "| click AUC vs oracle AUC | 0.691 vs 0.711 |",
    "fidelity_unseen": "| watch_ratio | RMSE | **0.173** | 0.177 | 0.176 | - | - |",
    "simulator_throughput": "| 1,024 | 619,192 | 512,610 |",
    "env_throughput": "| RecGym/Synthetic-v0 | 8,192 | 1,085,337 | 102.57 | 1,085,337 |",
    "sweep_scaling": "| Ray, 2 workers | 14.1 |  | **1.77** |",
    "loading": "| load_parquet (same rows) | 1,000,000 | 1,000,000 | 0.29 | 3,396,000 |",
    "offline_data": "| load + build (fresh process) |  | **6.64** | 923 |",
    "online_leaderboard": "| ppo (drr_att) | 400,000 | 84.9 | 0.544 | 0.169 | 11.5 | 0.720 | "
                          "0.094 | 23.8 | **79.2** | [77.1, 81.3] | 0.7 |",
    "drr_reproduction": "| drr-att | **0.7100** | [0.7000, 0.7200] | 0.0100 | 0.6000 | 0.8500 | "
                        "0.7000 | 0.7466 | 120.0 |",
    "drr_ablation": "| drr-att | 0.710 | [0.700, 0.720] | 0.010 |",
    "offline_agents": "| cql | **67.3** | [64.6, 70.0] | 0.726 | 67.1, 67.5 | 134 | 26 |",
    "ope_validation": "| random | 20.00 [19.50, 20.50] | 21.00 [20.00, 22.00] (+5%) |",
    "fqe_crosscheck": "| unmasked | 21.54 [21.16, 21.91] | 19.74 (-8%) | 15.28 (-29%) | "
                      "22.25 (+3%) | 30 / 20 |",
    "offline_leaderboard": "| cql | **43.8** [43.1, 44.5] | 0.639 | 0.635 | 9.44 | 43.4, 44.3, "
                           "43.7 | 1.1 [1.0, 1.3] | 3.9 [3.1, 4.7] | 48.5 [47.8, 48.9] | "
                           "49.0 [48.9, 49.1] |",
    "dt4ier_ablation": "| DT4IER (full) | 0.5 [0.4, 0.6] | 0.50 [0.40, 0.60] | "
                       "0.500 [0.400, 0.600] |",
    "dt4ier_cost": "DT4IER step time / peer step time (same run): **5.0x**.",
    "sim2rec_transfer": "| Sim2Rec | 52.0 [48.9, 55.1] | 30.2 [29.3, 31.2] | 0.449 | 0.574 |",
    "sim2rec_transfer_spread": "| random | 35.4 [35.3, 35.5] | - | - | - |",
}
"""Per section, a line its table must hold for the JSON above."""
