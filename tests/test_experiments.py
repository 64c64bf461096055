"""The chapter helpers: resumable logs, best-of-N expectations, within-input correlations, paired intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tsrlib import experiments as ex


def _table() -> pd.DataFrame:
    # two inputs, four candidates; verifier v agrees with the oracle on input a and disagrees on input b
    return pd.DataFrame({"clip": ["a"] * 4 + ["b"] * 4, "cutoff": [4000] * 8, "candidate": list(range(4)) * 2,
                         "v": [1, 2, 3, 4, 1, 2, 3, 4], "w": [4, 3, 2, 1, 5, 5, 5, 5],
                         "-LSD": [-4, -3, -2, -1, -1, -2, -3, -4]})


def test_result_log_appends_and_resumes(tmp_path):
    log = ex.ResultLog(tmp_path / "r.csv", ["clip", "cutoff"])
    assert not log.done(clip="a", cutoff=4000)
    log.append(pd.DataFrame([{"clip": "a", "cutoff": 4000, "x": 1.0}]))
    again = ex.ResultLog(tmp_path / "r.csv", ["clip", "cutoff"])  # a rerun after a kill
    assert again.done(clip="a", cutoff=4000) and not again.done(clip="a", cutoff=8000)
    again.append(pd.DataFrame([{"clip": "a", "cutoff": 8000, "x": 2.0}]))
    assert again.frame().x.tolist() == [1.0, 2.0]


def test_sweep_name_changes_with_parameters():
    assert ex.sweep_name("s", n=4) == ex.sweep_name("s", n=4) != ex.sweep_name("s", n=5)
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)  # results from other weights must not be taken for these
    assert ex.sweep_name("s", model=a, n=4) == ex.sweep_name("s", model=a, n=4) != ex.sweep_name("s", model=b, n=4)


def test_within_input_spearman_averages_inputs_and_skips_flat_ones():
    rho = ex.within_input_spearman(_table(), ["v", "w", "-LSD"])
    assert rho.loc["v", "-LSD"] == pytest.approx(0.0)  # +1 on a, -1 on b
    assert rho.loc["w", "-LSD"] == pytest.approx(-1.0)  # w is flat on b, so only a counts
    assert rho.loc["v", "v"] == pytest.approx(1.0)


def test_best_of_n_at_full_pool_is_the_argmax_and_at_one_is_the_mean():
    out = ex.best_of_n(_table(), "v", ["-LSD"], [1, 4], reps=4000, seed=0).set_index(["clip", "N"])
    assert out.loc[("a", 4), "-LSD"] == -1 and out.loc[("b", 4), "-LSD"] == -4
    assert out.loc[("a", 1), "-LSD"] == pytest.approx(-2.5, abs=0.1)
    ens = ex.best_of_n(_table(), ["v", "-LSD"], ["-LSD"], [4]).set_index("clip")  # rank ensemble of two columns
    assert ens.loc["a", "-LSD"] == -1


def test_paired_ci_contains_the_true_mean_difference():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 200)
    m, lo, hi = ex.paired_ci(a + 0.5, a)
    assert m == pytest.approx(0.5) and lo == pytest.approx(0.5) and hi == pytest.approx(0.5)
    m, lo, hi = ex.paired_ci(a + rng.normal(0.3, 0.1, 200), a)
    assert lo < 0.3 < hi and hi - lo < 0.05


def test_x0_trajectory_scores_every_level_and_ends_at_the_final_score():
    from tsrlib.models import tiny

    rng = np.random.default_rng(0)
    clip = ex.Clip("c", "speech", "test", (0.1 * rng.standard_normal(12_000)).astype(np.float32), 24_000, None, None)
    df = ex.x0_score_trajectory(tiny.load("tiny"), clip, 4000.0, ["continuity", "consensus"], n=3, steps=4)
    assert len(df) == 2 * 3 * 4 and set(df.level) == {1, 2, 3, 4}
    last = df[df.level == 4]
    np.testing.assert_allclose(last.score, last.final)
