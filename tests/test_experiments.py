"""The chapter helpers: resumable logs, best-of-N expectations, within-input correlations, paired intervals."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
import torch

from tsrlib import experiments as ex
from tsrlib.errors import ConfigError


def _table() -> pd.DataFrame:
    # two inputs, four candidates; verifier v agrees with the oracle on input a and disagrees on input b
    return pd.DataFrame(
        {
            "clip": ["a"] * 4 + ["b"] * 4,
            "cutoff": [4000] * 8,
            "candidate": list(range(4)) * 2,
            "v": [1, 2, 3, 4, 1, 2, 3, 4],
            "w": [4, 3, 2, 1, 5, 5, 5, 5],
            "-LSD": [-4, -3, -2, -1, -1, -2, -3, -4],
        }
    )


def test_result_log_appends_and_resumes(tmp_path):
    log = ex.ResultLog(tmp_path / "r.csv", ["clip", "cutoff"])
    assert not log.done(clip="a", cutoff=4000)
    log.append(pd.DataFrame([{"clip": "a", "cutoff": 4000, "x": 1.0}]))
    again = ex.ResultLog(tmp_path / "r.csv", ["clip", "cutoff"])  # a rerun after a kill
    assert again.done(clip="a", cutoff=4000) and not again.done(clip="a", cutoff=8000)
    again.append(pd.DataFrame([{"clip": "a", "cutoff": 8000, "x": 2.0}]))
    assert again.frame().x.tolist() == [1.0, 2.0]
    again.append(pd.DataFrame([{"x": 3.0, "cutoff": 8000, "clip": "b"}]))  # another column order: the file's is kept
    assert again.frame().x.tolist() == [1.0, 2.0, 3.0] and again.frame()["clip"].tolist() == ["a", "a", "b"]
    with pytest.raises(ConfigError, match=r"\['x'\] these rows lack and lacks \['y'\]"):
        again.append(pd.DataFrame([{"clip": "c", "cutoff": 8000, "y": 1.0}]))


def test_result_log_keys_read_back_as_written_and_old_logs_are_moved_aside(tmp_path):
    log = ex.ResultLog(tmp_path / "r.csv", ["clip", "cutoff"])
    log.append(pd.DataFrame([{"clip": "0123", "cutoff": 4000.0, "x": 1.0}]))
    again = ex.ResultLog(tmp_path / "r.csv", ["clip", "cutoff"])  # the CSV reads "0123" back as 123 unless told not to
    assert again.done(clip="0123", cutoff=4000) and again.done(clip="0123", cutoff="4000.0")
    assert not again.done(clip="123", cutoff=4000) and not again.done(clip="0123", cutoff=4000.5)
    with pytest.warns(UserWarning, match="no run column"):
        fresh = ex.ResultLog(tmp_path / "r.csv", ["run", "clip", "cutoff"])
    assert not fresh.done(run="x", clip="0123", cutoff=4000) and (tmp_path / "r.stale.csv").is_file()


def test_a_digest_that_reads_as_a_number_still_finds_its_rows(tmp_path):
    """A run digest such as 115174036e72 parses as the float 1.15e80 unless the log reads it as text."""
    log = ex.ResultLog(tmp_path / "r.csv", ex.KEY)
    log.append(pd.DataFrame([{"run": "115174036e72", "clip": "c", "clip_sha": "0012e5", "cutoff": 4000.0, "x": 1.0}]))
    got = log.frame(run="115174036e72", clip_sha=["0012e5"], cutoff=[4000])
    assert len(got) == 1 and got.run[0] == "115174036e72" and got.clip_sha[0] == "0012e5"


def test_a_sweep_reuses_a_row_only_for_the_same_model_settings_cutoff_and_clip_content(tmp_path, monkeypatch):
    """A change to any of them, or to the library's code, computes new rows; the sweep returns only its own rows."""
    from tsrlib.models import tiny

    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(12_000)).astype(np.float32)
    clip = ex.Clip("c", "speech", "test", x, 24_000, None, None)
    model = tiny.load("tiny")
    log = tmp_path / "one-log-for-every-run.csv"

    def run(m=model, c=clip, cutoff=4000.0, steps=2, eta=0.0):
        df = ex.candidate_table(m, [c], [cutoff], 2, ["continuity"], steps=steps, eta=eta, log_path=log)
        assert len(df) == 2 and df.candidate.tolist() == [0, 1]
        return len(pd.read_csv(log)), df

    rows, first = run()
    assert run()[0] == rows  # the same run: resumed, nothing added
    for change in (
        {"steps": 3},
        {"eta": 1.0},
        {"cutoff": 6000.0},
        {"c": ex.Clip("c", "speech", "test", x[::-1].copy(), 24_000, None, None)},
    ):
        now, df = run(**change)
        assert now == rows + 2, change
        assert not np.allclose(df.LSD, first.LSD), change  # and its numbers are its own
        rows = now
    other = tiny.load("tiny")
    with torch.no_grad():
        next(other.parameters()).add_(0.01)  # the same name and config, other weights
    assert run(m=other)[0] == rows + 2
    monkeypatch.setattr(ex, "code_version", lambda: "edited")
    assert run(m=other)[0] == rows + 4


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


def _bars_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three speech clips of four candidates with known LSDs, and band replication's LSD on each."""
    lsd = {"a": [1.0, 2.0, 3.0, 2.0], "b": [2.0, 1.0, 1.5, 1.5], "c": [1.2, 1.4, 1.0, 1.4]}
    cands = pd.DataFrame(
        [
            {"domain": "speech", "clip": c, "cutoff": 4000.0, "candidate": k, "LSD": v, "v": -v, "w": v}
            for c, vs in lsd.items()
            for k, v in enumerate(vs)
        ]
    )
    base = pd.DataFrame(
        [
            {"clip": c, "cutoff": 4000.0, "method": m, "LSD": v}
            for c, v in {"a": 1.5, "b": 1.5, "c": 1.5}.items()
            for m in ("band replication", "input")
        ]
    )
    return cands, base


def test_search_bars_on_known_values():
    cands, base = _bars_tables()
    row = ex.search_bars(cands, base).iloc[0]
    # one sample = candidate 0: 1.0, 2.0, 1.2; mean sample: 2.0, 1.5, 1.25; best: 1.0, 1.0, 1.0; bar 1.5
    assert row.clips == 3 and row.one == pytest.approx(4.2 / 3) and row["mean"] == pytest.approx(4.75 / 3)
    assert row.best == pytest.approx(1.0) and row.bar == pytest.approx(1.5)
    assert row.headroom == pytest.approx(1 - 1.0 / (4.75 / 3)) and row.best_vs_bar == pytest.approx(1 / 3)
    assert (row.best_minus_bar, row.best_minus_bar_lo, row.best_minus_bar_hi) == pytest.approx((-0.5, -0.5, -0.5))
    d = np.array([1.0, 2.0, 1.2]) - 1.5
    half = 4.302653 * d.std(ddof=1) / np.sqrt(3)  # t(0.975, 2 degrees of freedom)
    assert (row.one_minus_bar_lo, row.one_minus_bar_hi) == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-5)
    m = np.array([2.0, 1.5, 1.25]) - 1.5
    half = 4.302653 * m.std(ddof=1) / np.sqrt(3)
    assert (row.mean_minus_bar, row.mean_minus_bar_lo, row.mean_minus_bar_hi) == pytest.approx(
        (m.mean(), m.mean() - half, m.mean() + half), rel=1e-5
    )
    assert ex.search_bars(cands, base, n=2).iloc[0].best == pytest.approx((1.0 + 1.0 + 1.2) / 3)  # first two only


def test_code_prior_candidates_share_draws_restore_the_model_and_a_low_prior_draws_quieter_bands():
    from tsrlib import audio, metrics, sampler
    from tsrlib.models import tiny

    rng = np.random.default_rng(3)
    t = np.arange(24_000) / 24_000
    ref = (0.1 * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
    model = tiny.load("tiny").with_code_prior((-0.5, 1.0))  # its own prior, to be restored
    priors = {"none": None, "low": (-3.0, 0.5)}
    rows = ex.code_prior_candidates(model, ref, 24_000, 4000.0, priors, n=3, steps=3, seed=2)
    assert model.cfg.code_prior == (-0.5, 1.0)
    assert rows.shape[0] == 6 and rows.groupby("prior").candidate.apply(list).to_dict() == dict.fromkeys(
        priors, [0, 1, 2]
    )
    # the "none" rows are the sampler's own candidates 0..2 of seed 2
    plain = tiny.load("tiny")
    cond = plain.condition(audio.degrade(ref, 24_000, 4000.0, "cheby1"), 24_000, 4000.0)
    lsd = metrics.lsd(ref, sampler.generate(plain, cond, 2, range(3), steps=3).audio)
    np.testing.assert_allclose(rows[rows.prior == "none"].LSD, lsd, rtol=1e-6)
    low, none = (rows[rows.prior == p].band_db.to_numpy() for p in ("low", "none"))
    assert (low < none).all()  # a gain code 3 SD down: every candidate's band is quieter than its own draw's
    bars = ex.code_prior_bars(rows.assign(clip="c", domain="speech")).set_index("prior")
    assert bars.loc["low", "bar"] == bars.loc["none", "bar"] == rows.br.iloc[0]
    assert bars.loc["low", "best"] == pytest.approx(rows[rows.prior == "low"].LSD.min())
    assert bars.loc["none", "band_db"] == pytest.approx(np.median(none))
    with pytest.raises(ConfigError, match="model's rate"):
        ex.code_prior_candidates(model, ref, 16_000, 4000.0, priors, n=1, steps=2)


def test_verifier_agreement_on_known_values():
    cands, _ = _bars_tables()
    out = ex.verifier_agreement(cands, ["v", "w"]).set_index("verifier")
    assert out.loc["v", "spearman"] == pytest.approx(1.0) and out.loc["w", "spearman"] == pytest.approx(-1.0)
    # v picks each clip's lowest LSD (1.0 each), w the highest (3.0, 2.0, 1.4); against the mean candidate
    assert out.loc["v", "pick_gain"] == pytest.approx(np.mean([1.0 - 2.0, 1.0 - 1.5, 1.0 - 1.25]))
    assert out.loc["w", "pick_gain"] == pytest.approx(np.mean([3.0 - 2.0, 2.0 - 1.5, 1.4 - 1.25]))
    assert out.loc["v", "inputs"] == 3


def test_rank_ensemble_columns_match_the_verifiers_rank_aggregate():
    from tsrlib.verifiers import rank_aggregate

    cands, _ = _bars_tables()
    cands["u"] = cands.candidate.astype(float)
    out = ex.with_rank_ensembles(cands, ["ensemble:v,u", "mbr"])  # a plain name is not an ensemble: skipped
    assert "mbr" not in out and "ensemble:v,u" not in cands
    # clip a: v = -LSD ranks [4, 2.5, 1, 2.5], u ranks [1, 2, 3, 4]: mean [2.5, 2.25, 2, 3.25]
    np.testing.assert_allclose(out.loc[out["clip"] == "a", "ensemble:v,u"], [2.5, 2.25, 2.0, 3.25])
    for _, g in out.groupby("clip"):
        np.testing.assert_allclose(g["ensemble:v,u"], rank_aggregate(np.stack([g.v, g.u])))
    with pytest.raises(ConfigError, match="no column x"):
        ex.with_rank_ensembles(cands, ["ensemble:v,x"])
    with pytest.raises(ConfigError, match="only rank ensembles"):
        ex.with_rank_ensembles(cands, ["zensemble:v,u"])
    assert ex.available_selectors({"one": cands, "two": cands.drop(columns="u")}, ["v", "ensemble:v,u", "w"]) == [
        "v",
        "w",
    ]


def _selector_tables() -> dict[str, pd.DataFrame]:
    """Two sets of four clips; in each clip "safe" picks 1.8 (0.2 below the mean candidate, 2.0), "bold" picks 1.0
    in set A and 3.2 in set B, "meh" picks 2.0. Every clip is shifted by 0.01 dB per clip, which no gain sees."""
    lsd = [1.0, 1.8, 3.2, 2.0]
    picks = {"A": {"safe": 1, "bold": 0, "meh": 3}, "B": {"safe": 1, "bold": 2, "meh": 3}}
    return {
        name: pd.DataFrame(
            [
                {"domain": "speech", "clip": f"c{i}", "cutoff": 4000.0, "candidate": k, "LSD": v + 0.01 * i}
                | {s: float(k == pick) for s, pick in chosen.items()}
                for i in range(4)
                for k, v in enumerate(lsd)
            ]
        )
        for name, chosen in picks.items()
    }


def test_selector_record_counts_cells_and_the_reliable_choice_never_hurts():
    tables = _selector_tables()
    cells = ex.selector_cells(tables, ["safe", "bold", "meh"])
    assert len(cells) == 6 and set(cells.set) == {"A", "B"} and (cells.inputs == 4).all()
    gain = cells.set_index(["set", "verifier"]).pick_gain
    assert gain["A", "safe"] == pytest.approx(-0.2) and gain["B", "bold"] == pytest.approx(1.2)
    record = ex.selector_record(cells)
    assert record.loc["safe"].tolist() == pytest.approx([2, 2, 0, -0.2, -0.2])
    assert record.loc["bold"].tolist() == pytest.approx([2, 1, 1, 1.2, 0.1])
    assert record.loc["meh", "helps"] == record.loc["meh", "hurts"] == 0
    assert ex.most_reliable(record) == "safe"  # bold helps as often and gains more where it helps, but it hurts
    assert ex.most_reliable(record.drop("safe")) == "meh"
    # the first two candidates only: the mean is 1.4, so safe's 1.8 is 0.4 worse
    two = ex.selector_cells({"A": tables["A"]}, ["safe"], n=2)
    assert two.pick_gain.iloc[0] == pytest.approx(0.4)


def test_open_study_checks_the_weights(tmp_path):
    import json

    from tsrlib.bank import BankMismatchError
    from tsrlib.models import tiny
    from tsrlib.search.cache import model_fingerprint

    rows = _selector_tables()["A"]
    rows.to_csv(tmp_path / "a.csv", index=False)
    meta = {"model": "tiny-real", "weights": "0" * 40, "sets": {"set A": {"file": "a.csv", "command": "RERUN A"}}}
    (tmp_path / "study.json").write_text(json.dumps(meta))
    with pytest.raises(BankMismatchError, match="regenerate it with RERUN A"):
        ex.open_study(tmp_path)
    meta["weights"] = model_fingerprint(tiny.load("tiny-real"))
    (tmp_path / "study.json").write_text(json.dumps(meta))
    got = ex.open_study(tmp_path)
    assert list(got) == ["set A"]
    pd.testing.assert_frame_equal(got["set A"], rows)


def test_baseline_table_scores_each_method_and_resumes(tmp_path):
    from tsrlib import audio

    rng = np.random.default_rng(0)
    x = audio.degrade((0.1 * rng.standard_normal(24_000)).astype(np.float32), 24_000, 10_000.0, "butter")
    clip = ex.Clip("n", "sfx", "test", x, 24_000, None, None)
    df = ex.baseline_table([clip], [4000.0], log_path=tmp_path / "b.csv")
    lsd = df.set_index("method").LSD
    assert set(lsd.index) == {
        "input",
        "band replication",
        "sbr",
        "band replication (oracle gain)",
        "sbr (oracle gain)",
        "noise fill (oracle)",
    }
    assert lsd["band replication (oracle gain)"] <= lsd["band replication"] + 1e-9 and lsd["sbr"] < lsd["input"]
    again = ex.baseline_table([clip], [4000.0], log_path=tmp_path / "b.csv")
    assert len(again) == len(df)  # resumed, nothing added


def test_n_at_fraction_on_known_curves():
    gain = pd.Series([0.0, 0.5, 0.85, 0.95, 1.0], index=[1, 2, 4, 8, 16])
    assert ex.n_at_fraction(gain) == 8 and ex.n_at_fraction(gain, 0.5) == 2 and ex.n_at_fraction(gain, 1.0) == 16
    assert np.isnan(ex.n_at_fraction(pd.Series([0.0, 0.0], index=[1, 4])))
    assert np.isnan(ex.n_at_fraction(pd.Series([0.0, -0.2], index=[1, 4])))


def test_diminishing_returns_on_known_curves():
    curves = pd.DataFrame(
        {
            "selector": ["v"] * 3 + ["e"] * 3,
            "cutoff": [4000] * 6,
            "N": [1, 2, 4] * 2,
            "v": [0.0, 0.9, 1.0, 0, 0, 0],
            "a": [0, 0, 0, 0.0, 2.0, 2.0],
            "b": [0, 0, 0, 0.0, 0.0, 4.0],
            "-LSD": [-2.0, -1.8, -1.5, -2.0, -2.1, -2.2],
        }
    )
    out = ex.diminishing_returns(curves, {"v": "v", "e": ["a", "b"]}, pd.Series({"a": 1.0, "b": 2.0})).set_index(
        "selector"
    )
    assert out.loc["v", "n_frac"] == 2 and out.loc["v", "change_at_n_frac"] == pytest.approx(-0.2)
    assert out.loc["v", "change_at_max"] == pytest.approx(-0.5) and out.loc["v", "n_max"] == 4
    # the ensemble's own gain: mean of a/1 and b/2 = 1 at N=2, 2 at N=4: 90 % of 2 is first reached at N = 4
    assert out.loc["e", "n_frac"] == 4 and out.loc["e", "change_at_max"] == pytest.approx(0.2)


def test_searcher_table_pairs_by_clip_and_seed():
    runs = pd.DataFrame(
        [
            {
                "clip": c,
                "seed": s,
                "cutoff": 4000,
                "searcher": name,
                "verifier": "v",
                "nfe": 50,
                "candidates": k,
                "score": sc,
                "LSD": lsd,
            }
            for (name, k, off) in (("random", 2, 0.0), ("zo", 1, -0.1))
            for c, s, sc, lsd in (("a", 0, 1.0, 2.0), ("b", 0, 2.0, 3.0), ("a", 1, 1.5, 2.5))
            for sc, lsd in [(sc - off, lsd + off + (0.05 if c == "b" else 0.0) * (name == "zo"))]
        ]
    )
    out = ex.searcher_table(runs).set_index("searcher")
    assert list(out.index) == ["random", "zo"] and (out.clips == 3).all()
    assert out.loc["random", "d_lsd"] == 0 and out.loc["zo", "candidates"] == 1
    assert out.loc["zo", "d_lsd"] == pytest.approx((-0.1 - 0.05 - 0.1) / 3) and out.loc[
        "zo", "d_score"
    ] == pytest.approx(0.1)
    assert out.loc["zo", "d_lsd_lo"] < out.loc["zo", "d_lsd"] < out.loc["zo", "d_lsd_hi"]


def test_sample_cost_grows_with_the_steps():
    from tsrlib.models import tiny

    lr = (0.1 * np.random.default_rng(0).standard_normal(12_000)).astype(np.float32)
    model = tiny.load("tiny")
    few, many = (ex.sample_cost(model, lr, 24_000, 4000.0, n=2, steps=s) for s in (2, 16))
    assert 0 < few < many


def test_ci_width_ratio_uses_the_t_quantiles():
    assert ex.ci_width_ratio(3, 20) == pytest.approx((4.302653 / np.sqrt(3)) / (2.093024 / np.sqrt(20)), rel=1e-5)
    assert ex.ci_width_ratio(20, 20) == 1.0 and ex.ci_width_ratio(1000, 4000) == pytest.approx(2.0, rel=1e-2)


def test_choose_verifier_takes_the_best_agreement_per_cutoff_and_never_a_flat_one():
    cands, _ = _bars_tables()  # v agrees with -LSD on every clip, w disagrees
    both = pd.concat([cands, cands.assign(cutoff=8000.0, v=-cands.v)])  # at 8 kHz v disagrees instead
    both["flat"] = 1.0
    assert ex.choose_verifier(both, ["flat", "w", "v"]) == {4000.0: "v", 8000.0: "w"}
    assert ex.choose_verifier(both, ["flat"]) == {4000.0: "flat", 8000.0: "flat"}  # nothing to rank with: the first


def test_choice_reason_states_the_clips_and_the_agreement():
    agreement = pd.DataFrame(
        {
            "cutoff": [4000.0, 4000.0, 8000.0],
            "verifier": ["v", "w", "w"],
            "spearman": [0.5, -0.2, np.nan],
            "inputs": [1, 1, 1],
        }
    )
    text = ex.choice_reason({4000.0: "v", 8000.0: "w"}, agreement)
    assert text.endswith("on 1 validation clip (mean within-input Spearman +0.50 and undefined)")


def test_bench_records_keep_the_latest_run_of_each_bench_on_each_machine(tmp_path):
    import json

    def line(bench, hw, date, value):
        return json.dumps({"bench": bench, "hardware": hw, "date": date, "metric": "m", "value": value, "unit": "x"})

    (tmp_path / "a.jsonl").write_text(
        "\n".join([line("sampler", "cpu", "2026-01-01", 1.0), line("sampler", "cpu", "2026-02-01", 2.0)]) + "\n"
    )
    (tmp_path / "b.jsonl").write_text(
        line("sampler", "gpu", "2026-01-01", 5.0) + "\n" + line("audiosr", "cpu", "2026-01-01", 7.0) + "\n\n"
    )
    got = ex.bench_records(str(tmp_path / "*.jsonl"))
    assert sorted(zip(got.bench, got.hardware, got.value)) == [
        ("audiosr", "cpu", 7.0),
        ("sampler", "cpu", 2.0),
        ("sampler", "gpu", 5.0),
    ]
    empty = ex.bench_records(str(tmp_path / "none-*.jsonl"))
    assert empty.empty and {"bench", "hardware", "value", "unit"} <= set(empty.columns)


def test_clips_by_domain_takes_the_first_of_each_domain_in_the_spec_order(tiny_corpus):
    from tsrlib.errors import ConfigError

    clips = ex.clips_by_domain(tiny_corpus, "sfx=1, speech=2", max_seconds=0.5)
    assert [c.domain for c in clips] == ["sfx", "speech", "speech"]
    assert [c.id for c in clips[1:]] == [c.id for c in ex.test_clips(tiny_corpus, "speech", 2)]
    assert all(len(c.audio) <= 0.5 * c.sr for c in clips)
    as_dict = ex.clips_by_domain(tiny_corpus, {"sfx": 1, "speech": 2}, max_seconds=0.5)  # a chapter's parameter
    assert [c.id for c in as_dict] == [c.id for c in clips]
    with pytest.raises(ConfigError, match="DOMAIN=COUNT"):
        ex.clips_by_domain(tiny_corpus, "speech")


def test_search_choices_returns_each_searchers_pick_labelled_with_its_lsd():
    from tsrlib import audio, metrics
    from tsrlib.models import baselines, tiny

    rng = np.random.default_rng(1)
    x = audio.degrade((0.1 * rng.standard_normal(12_000)).astype(np.float32), 24_000, 10_000.0, "butter")
    clip = ex.Clip("c", "sfx", "test", x, 24_000, None, None)
    model = tiny.load("tiny")
    searchers = {"one sample": ex.RandomSearch(n=1, steps=4), "best of 3": ex.RandomSearch(n=3, steps=4)}
    out = ex.search_choices(model, clip, 4000.0, searchers, "continuity", seed=2, band_replication=True)
    labels = list(out)
    assert labels[0] == "input" and labels[-1] == "original" and len(labels) == 5
    assert labels[1].startswith("band replication (LSD ") and labels[3].startswith("best of 3 (LSD ")
    lr = audio.degrade(x, 24_000, 4000.0, "cheby1")
    np.testing.assert_array_equal(out["input"], lr)
    np.testing.assert_array_equal(out[labels[1]], baselines.band_replication(lr, 24_000, 4000.0, seed=2))
    best = searchers["best of 3"].run(model, lr, "continuity", seed=2, cutoff_hz=4000.0).audio
    np.testing.assert_array_equal(out[labels[3]], best)
    for label in labels[1:-1]:  # each label states its output's LSD against the clip, to 2 decimals
        stated = float(re.search(r"LSD ([0-9.]+)\)", label).group(1))
        assert stated == pytest.approx(float(metrics.lsd(x[: len(out[label])], out[label])[0]), abs=0.005)


def _audiosr_bench_records() -> pd.DataFrame:
    """bench/audiosr.py rows of a CPU run (reduced: 10 steps on 1.28 s) and an H200 run (full size: 50 steps, 5.12 s)."""

    def row(hw, metric, value, reduced, **extra):
        settings = {"reduced": reduced, "steps": 10 if reduced else 50, "seconds": 1.28 if reduced else 5.12}
        return {"bench": "audiosr", "hardware": hw, "metric": metric, "value": value, "unit": "x",
                "settings": settings, **extra}  # fmt: skip

    return pd.DataFrame(
        [
            row("CPU x86_64, 2 cores", "one upstream sample (fp32)", 0.5, True),
            row("CPU x86_64, 2 cores", "best-of-4 / one upstream sample (fp32)", 1.8, True, n=4, dtype="fp32"),
            row("NVIDIA H200", "one upstream sample (fp32)", 4.0, False),
            row("NVIDIA H200", "best-of-16 / one upstream sample (fp32)", 0.8, False, n=16, dtype="fp32"),
            row(
                "NVIDIA H200",
                "best-of-16 / one upstream sample (bf16+compile:reduce-overhead)",
                0.35,
                False,
                n=16,
                dtype="bf16+compile:reduce-overhead",
            ),
            row(
                "NVIDIA H200",
                "best-of-16 / one upstream sample (fp32+compile:max-autotune)",
                0.6,
                False,
                n=16,
                dtype="fp32+compile:max-autotune",
            ),
            row("NVIDIA H200", "speed-up over 16 upstream samples (fp32)", 20.0, False, n=16, dtype="fp32"),
            row("NVIDIA H200", "best-of-64 / one upstream sample (bf16)", 1.9, False, n=64, dtype="bf16"),
            {"bench": "sampler", "hardware": "NVIDIA H200", "metric": "best-of-16 x", "value": 9.0},
        ]
    )


def test_audiosr_cost_reads_the_ratios_of_a_gpu_run_before_a_cpu_run():
    records = _audiosr_bench_records()
    cost = ex.audiosr_cost(records)
    assert len(cost) == 5 and set(cost.machine) == {"CPU x86_64, 2 cores (reduced)", "NVIDIA H200 (full size)"}
    assert cost.set_index(["machine", "N", "dtype"]).one.to_dict() == {
        ("CPU x86_64, 2 cores (reduced)", 4, "fp32"): 0.5,
        ("NVIDIA H200 (full size)", 16, "fp32"): 4.0,
        ("NVIDIA H200 (full size)", 16, "bf16 + CUDA graphs"): 4.0,
        ("NVIDIA H200 (full size)", 16, "fp32 + compile (max-autotune)"): 4.0,
        ("NVIDIA H200 (full size)", 64, "bf16"): 4.0,
    }
    at16 = ex.audiosr_cost_at(cost, 16)
    assert at16 == {
        "machine": "NVIDIA H200 (full size)",
        "one": 4.0,
        "fp32": 0.8,
        "best": 0.35,
        "best_dtype": "bf16 + CUDA graphs",
    }
    at64 = ex.audiosr_cost_at(cost, 64)
    assert np.isnan(at64["fp32"]) and (at64["best"], at64["best_dtype"]) == (1.9, "bf16")
    assert np.isnan(ex.audiosr_cost_at(cost, 4)["best"])  # the GPU machine comes first; it ran no N = 4 here
    cpu_only = ex.audiosr_cost(records[records.hardware.str.startswith("CPU")])
    assert ex.audiosr_cost_at(cpu_only, 4)["best"] == 1.8
    assert ex.audiosr_cost(records[records.bench == "sampler"]).empty
    assert ex.audiosr_cost_at(ex.audiosr_cost(records.iloc[:0]), 16)["machine"] == ""


def test_denoiser_throughput_divides_the_counted_arithmetic_by_the_best_of_n_wall_time():
    records = _audiosr_bench_records()
    asked = []

    def step_flops(reduced: bool, seconds: float) -> float:
        asked.append((reduced, seconds))
        return 1e9 if reduced else 1e12

    out = ex.denoiser_throughput(ex.audiosr_cost(records), step_flops).set_index(["hardware", "dtype"])
    assert sorted(set(asked)) == [(False, 5.12), (True, 1.28)]
    cpu, fp32, graphs = ("CPU x86_64, 2 cores", "fp32"), ("NVIDIA H200", "fp32"), ("NVIDIA H200", "bf16 + CUDA graphs")
    assert out.wall[cpu] == pytest.approx(0.9) and out.wall[graphs] == pytest.approx(1.4)
    assert out.tflops[cpu] == pytest.approx(4 * 10 * 1e9 / 0.9 / 1e12)
    assert out.tflops[fp32] == pytest.approx(16 * 50 * 1e12 / 3.2 / 1e12)
    assert out.tflops[graphs] == pytest.approx(16 * 50 / 1.4)
    assert out.tflops[("NVIDIA H200", "bf16")] == pytest.approx(64 * 50 / 7.6)
    assert out.peak[fp32] == ex.PEAK_TFLOPS["NVIDIA H200"]["tf32"]  # fp32 convolutions run in TF32 (cuDNN's default)
    assert out.of_peak[graphs] == pytest.approx(16 * 50 / 1.4 / ex.PEAK_TFLOPS["NVIDIA H200"]["bf16"])
    assert np.isnan(out.peak[cpu]) and np.isnan(out.of_peak[cpu])


def test_band_envelope_error_is_the_band_level_gap_in_db_whatever_the_detail():
    from tsrlib import metrics

    rng = np.random.default_rng(0)
    ref = (0.1 * rng.standard_normal(24_000)).astype(np.float32)
    twice = ex.band_envelope_error(ref, np.stack([ref, 2 * ref]), 24_000, 4000.0)
    np.testing.assert_allclose(twice, [0.0, 20 * np.log10(2)], atol=1e-9)  # 6.02 dB louder in every frame
    other = (0.1 * rng.standard_normal(24_000)).astype(np.float32)  # the same level, other detail
    assert ex.band_envelope_error(ref, other, 24_000, 4000.0)[0] < 0.5 < metrics.lsd(ref, other)[0]


def test_setting_candidates_share_samples_across_decode_settings_and_restore_the_model():
    from tsrlib import audio, metrics, sampler
    from tsrlib.models import tiny

    rng = np.random.default_rng(3)
    t = np.arange(24_000) / 24_000
    ref = (0.1 * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
    model = tiny.load("tiny-real")
    settings = {"open": {"envelope_cap_db": None}, "cap": {}}  # the shipped model caps its band
    rows = ex.setting_candidates(model, ref, 24_000, 4000.0, settings, n=3, steps=3, seed=2)
    assert model.cfg.envelope_cap_db == 0.0 and list(rows.setting.unique()) == ["open", "cap"]
    model.cfg = dataclasses.replace(model.cfg, envelope_cap_db=None)
    cond = model.condition(audio.degrade(ref, 24_000, 4000.0, "cheby1"), 24_000, 4000.0)
    out = sampler.generate(model, cond, 2, range(3), steps=3).audio
    np.testing.assert_allclose(rows[rows.setting == "open"].LSD, metrics.lsd(ref, out), rtol=1e-6)
    np.testing.assert_allclose(rows[rows.setting == "open"].env_db, ex.band_envelope_error(ref, out, 24_000, 4000.0))
    open_db, cap_db = (rows[rows.setting == s].band_db.to_numpy() for s in ("open", "cap"))  # the cap only lowers
    assert (cap_db < open_db).all()
    bars = ex.setting_bars(rows.assign(clip="c", domain="speech")).set_index("setting")
    assert bars.loc["cap", "best_env_db"] == pytest.approx(rows.loc[rows[rows.setting == "cap"].LSD.idxmin(), "env_db"])
    assert bars.loc["open", "br_env_db"] == pytest.approx(rows.br_env_db.iloc[0])
