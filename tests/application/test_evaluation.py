"""evaluate() and the random-valid baseline on the real engine."""

from __future__ import annotations

import pytest

from hackmatrix.application.use_cases import evaluate, evaluate_random_policy

STAT_KEYS = {"num_episodes", "mean_return", "std_return", "mean_length", "highest_stage",
             "mean_highest_stage", "win_rate", "win_rate_low", "win_rate_high", "truncated_frac",
             *(f"reach_stage_{k}" for k in range(2, 9))}


def test_evaluate_greedy_sampled_and_random_report_the_same_statistics(training_run):
    result, _, _ = training_run
    cfg = result.config
    greedy = evaluate(result.params, cfg, num_episodes=6, greedy=True, seed=3, max_steps=200)
    sampled = evaluate(result.params, cfg, num_episodes=6, greedy=False, seed=3, max_steps=200)
    random = evaluate_random_policy(cfg, num_episodes=6, seed=3, max_steps=200)
    for stats in (greedy, sampled, random):
        assert set(stats) == STAT_KEYS
        assert stats["num_episodes"] == 6.0
        assert 1.0 <= stats["mean_length"] <= 200.0
        assert 1.0 <= stats["mean_highest_stage"] <= stats["highest_stage"] <= 8.0
        assert 0.0 <= stats["win_rate"] <= 1.0 and 0.0 <= stats["truncated_frac"] <= 1.0
        assert stats["win_rate_low"] <= stats["win_rate"] <= stats["win_rate_high"]
        assert stats["std_return"] >= 0.0
        reach = [1.0] + [stats[f"reach_stage_{k}"] for k in range(2, 9)]
        assert reach == sorted(reach, reverse=True)  # reaching stage k means reaching k - 1
        assert sum(reach) == pytest.approx(stats["mean_highest_stage"])
    # Same seed, same policy: identical figures.
    assert evaluate(result.params, cfg, num_episodes=6, greedy=True, seed=3, max_steps=200) == greedy


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_evaluate_rejects_bad_episode_counts(training_run, bad):
    result, _, _ = training_run
    with pytest.raises(ValueError, match="num_episodes must be an int >= 1, got"):
        evaluate(result.params, result.config, num_episodes=bad)


def test_scripted_baseline_evaluates_twice_with_different_shapes(training_run):
    # Two compiles of the evaluation program (6 and 7 games): the scripted policy's
    # module constants must not be captured by the first trace.
    from hackmatrix.application.evaluation import evaluate_scripted_policy

    cfg = training_run[0].config
    six = evaluate_scripted_policy(cfg, num_episodes=6, seed=3, max_steps=50)
    seven = evaluate_scripted_policy(cfg, num_episodes=7, seed=3, max_steps=50)
    assert six["num_episodes"] == 6.0 and seven["num_episodes"] == 7.0
    assert six["mean_highest_stage"] >= 1.0 and seven["mean_highest_stage"] >= 1.0


# The Wilson score interval, z = 1.959964 (95 %): centre (p + z^2/2n) / (1 + z^2/n),
# half-width z / (1 + z^2/n) * sqrt(p(1 - p)/n + z^2/4n^2), worked by hand.
@pytest.mark.parametrize("wins, games, low, high", [
    (35, 500, 0.05076, 0.09580),   # 7 %: centre 0.073279, half-width 0.022519
    (0, 500, 0.0, 0.0076243),      # no win: the high end is z^2 / (n + z^2)
    (500, 500, 0.9923757, 1.0),
    (128, 256, 0.43921, 0.56079),  # 50 %: symmetric, half-width 0.060794
])
def test_win_rate_interval_is_wilsons(wins, games, low, high):
    from hackmatrix.application.evaluation import win_rate_interval

    assert win_rate_interval(wins, games) == pytest.approx((low, high), abs=2e-5)


def test_summarize_reports_the_win_rate_interval_of_its_games():
    import numpy as np

    from hackmatrix.application.evaluation import summarize

    won = np.zeros(500, bool)
    won[:35] = True
    stage = np.where(won, 8, 3)
    raw = {"return": np.zeros(500), "length": np.full(500, 40), "stage": stage, "won": won,
           "truncated": np.zeros(500, bool)}
    stats = summarize(raw)
    assert stats["win_rate"] == pytest.approx(0.07)
    assert (stats["win_rate_low"], stats["win_rate_high"]) == pytest.approx(
        (0.05076, 0.09580), abs=2e-5)
