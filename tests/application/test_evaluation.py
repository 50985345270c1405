"""evaluate() and the random-valid baseline on the real engine."""

from __future__ import annotations

import pytest

from hackmatrix.application.use_cases import evaluate, evaluate_random_policy

STAT_KEYS = {"num_episodes", "mean_return", "std_return", "mean_length", "highest_stage",
             "mean_highest_stage", "win_rate", "truncated_frac",
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
