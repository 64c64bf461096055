"""The score bank and ``tsr sweep``: rows of the right content, resumable after a kill, identical on every executor,
and never reused across weights, steps, eta or cutoff."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT
from tests.extras import require
from tsrlib import audio as tsa
from tsrlib import metrics
from tsrlib.bank import BankMismatchError, ScoreBank, library_versions, scoring_version
from tsrlib.errors import ConfigError, TsrError
from tsrlib.experiments import best_of_n
from tsrlib.sweep import Grid, run_sweep


def small_grid(corpus, **over) -> Grid:
    """2 clips (1 s, speech and music) x 1 cutoff x (random n=3, band replication), 4 DDIM steps."""
    d = {
        "model": "tiny-real",
        "corpus": str(corpus),
        "domains": ["speech", "music"],
        "clips": 1,
        "max_seconds": 1.0,
        "cutoffs": [4000],
        "steps": 4,
        "verifiers": ["continuity"],
        "searches": [{"name": "random", "n": 3}, {"name": "baseline", "method": "band-replication"}],
    }
    return Grid.from_dict(d | over)


def frame(path) -> pd.DataFrame:
    return ScoreBank(path).frame().drop(columns="wall_seconds")


# ------------------------------------------------------------------------------------------------- bank
def rows_for(cell: str, weights: str = "w1", code: str = "c1", n: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {"cell": cell, "candidate": range(n), "LSD": np.arange(n) + 1.0, "weights": weights, "code": code}
    )


def test_bank_stores_cells_and_refuses_other_weights_or_code(tmp_path):
    bank = ScoreBank(tmp_path, weights="w1", code="c1")
    bank.add("b", rows_for("b"))
    bank.add("a", rows_for("a", n=3))
    assert bank.has("a") and not bank.has("c") and len(bank) == 2
    assert list(bank.frame()["cell"]) == ["a"] * 3 + ["b"] * 2  # sorted: the order cells finished in does not show
    with pytest.raises(BankMismatchError, match="weights w1, not w2"):
        ScoreBank(tmp_path, weights="w2", code="c1")
    with pytest.raises(BankMismatchError, match="code c1, not c2"):
        ScoreBank(tmp_path, weights="w1", code="c2")
    with pytest.raises(BankMismatchError):
        bank.add("d", rows_for("d", weights="w2"))
    with pytest.raises(TsrError, match="other cells"):
        bank.add("d", rows_for("e"))
    before = bank.frame()
    merged = bank.compact()
    assert merged.is_file() and not list(bank.cells_dir.glob("*.parquet"))
    reopened = ScoreBank(tmp_path)  # read-only: no weights or code given
    assert reopened.has("a") and reopened.cells() == ["a", "b"]
    pd.testing.assert_frame_equal(reopened.frame(), before)
    reopened.check("w1", "c1")
    ScoreBank(tmp_path, weights="w1", code="c1").add("0", rows_for("0"))  # a cell beside the merged file sorts in
    assert list(ScoreBank(tmp_path).frame()["cell"]) == ["0"] * 2 + ["a"] * 3 + ["b"] * 2
    with pytest.raises(TsrError, match="not a score bank"):
        ScoreBank(tmp_path / "nothing")


def test_scoring_version_ignores_presentation_code():
    from tsrlib import bank

    assert len(scoring_version()) == 12
    assert all(
        not p.endswith(".py") or p in ("cli.py", "display.py", "prose.py", "experiments.py", "models/audiosr.py")
        for p in bank.SCORING_EXCLUDE
    )


# ------------------------------------------------------------------------------------------------- grid
def test_grid_round_trips_and_rejects_bad_declarations(tmp_path, tiny_corpus):
    g = small_grid(tiny_corpus)
    assert Grid.from_dict(g.to_dict()) == g
    with pytest.raises(ConfigError, match="unknown grid key 'stepz'"):
        Grid.from_dict(g.to_dict() | {"stepz": 3})
    with pytest.raises(ConfigError, match="share a label"):
        small_grid(tiny_corpus, searches=[{"name": "random", "n": 2}, {"name": "random", "n": 4}])
    with pytest.raises(ConfigError, match="baseline method"):
        small_grid(tiny_corpus, searches=[{"name": "baseline", "method": "magic"}])
    with pytest.raises(ConfigError, match="unknown oracle"):
        small_grid(tiny_corpus, oracles=["wer"])
    with pytest.raises(TsrError, match="tsr data build"):
        small_grid(tmp_path / "no-corpus").load_clips()
    for bad, message in [
        ({"searches": [{"name": "rndom"}]}, "unknown search 'rndom'"),
        ({"searches": [{"name": "random", "n": 0}]}, "n >= 1"),
        ({"searches": ["random"]}, "list of mappings"),
        ({"clips": 0}, "at least 1"),
        ({"domains": ["jazz"]}, "domains must be some of speech, music, sfx; got jazz"),
        ({"cutoffs": []}, "at least one cutoff"),
    ]:
        with pytest.raises(TsrError, match=message):
            small_grid(tiny_corpus, **bad)
    with pytest.raises(ConfigError, match="needs a list of searches"):
        Grid.from_dict({"clips": 2})
    g2 = small_grid(tiny_corpus, seeds=[0, 1])
    cells = g2.cells(g2.load_clips(), "w")
    assert len(cells) == 2 * (2 + 1)  # 2 clips x (random at 2 seeds + one baseline)
    assert len({c.key for c in cells}) == len(cells)


def test_cli_sweep_errors_are_one_line(tmp_path):
    bad = tmp_path / "grid.yaml"
    bad.write_text("searches: [{name: random, n: 2}]\nstepz: 3\n")
    (tmp_path / "broken.yaml").write_text(": : not yaml")
    (tmp_path / "elsewhere.yaml").write_text(f"searches: [{{name: random, n: 2}}]\ncorpus: {tmp_path / 'none'}\n")
    for name in ("missing.yaml", "grid.yaml", "broken.yaml", "elsewhere.yaml"):
        args = [str(tmp_path / name)]
        r = subprocess.run(
            [sys.executable, "-m", "tsrlib.cli", "sweep", *args, "--out", str(tmp_path / "o")],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()  # no bank folder is left behind by a grid that cannot run


# ------------------------------------------------------------------------------------------------- rows
def test_rows_hold_every_candidate_with_oracle_and_verifier_columns(tmp_path, tiny_corpus):
    g = small_grid(tiny_corpus)
    bank = run_sweep(g, tmp_path, progress=False)
    df = bank.frame()
    rnd, base = df[df.search == "random"], df[df.search == "baseline:band-replication"]
    assert len(rnd) == 2 * 3 and len(base) == 2
    assert set(df.weights) == {bank.weights} and set(df.code) == {scoring_version()}
    for _, cell in rnd.groupby("cell"):
        assert sorted(cell.candidate) == [0, 1, 2] and cell.chosen.sum() == 1
        assert cell.loc[cell.chosen, "candidate"].item() == cell.candidate[cell.guide_score.idxmax()]
        np.testing.assert_allclose(cell.continuity, cell.guide_score, atol=1e-4)  # guide = the panel's verifier
        assert (cell.nfe == 4).all() and (cell.cell_nfe == 12).all()
    # the baseline's oracle columns are the metric on audio made here, independently of the sweep
    from tsrlib.models import baselines

    for clip in g.load_clips():
        row = base[base.clip_sha == clip.sha].iloc[0]
        lr = tsa.degrade(clip.audio, clip.sr, 4000, "cheby1")
        y = baselines.band_replication(lr, clip.sr, 4000, seed=0)
        assert row.LSD == pytest.approx(float(metrics.lsd(clip.audio, y)[0]), rel=1e-5)
        assert row["LSD-HF"] == pytest.approx(float(metrics.lsd_hf(clip.audio, y, clip.sr, 4000)[0]), rel=1e-5)
        assert row.nfe == 0 and not row.real and row.domain == clip.domain
    # any best-of-n is a subsample of the random cells: N = 3 takes the guide's pick
    picks = best_of_n(rnd, "continuity", ["LSD"], [1, 3])
    full = picks[picks.N == 3].set_index("clip")["LSD"]
    chosen = rnd[rnd.chosen].set_index("clip")["LSD"]
    pd.testing.assert_series_equal(full.sort_index(), chosen.sort_index(), check_names=False)


# ---------------------------------------------------------------------------------------------- resume
def sweep_until_a_cell_is_stored(grid: Grid, out) -> subprocess.Popen:
    """``tsr sweep`` of ``grid`` into ``out`` in a subprocess, returned once its first cell is stored (stderr piped)."""
    import yaml

    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(grid.to_dict()))
    cmd = [sys.executable, "-m", "tsrlib.cli", "sweep", str(path), "--out", str(out)]
    # Ctrl-C must reach the sweep even where this test runs with SIGINT ignored (inherited by child processes)
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not list((out / "cells").glob("*.parquet")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.seen_running = proc.poll() is None  # the signal that follows lands on a running sweep
    return proc


def test_killed_sweep_resumes_to_the_clean_runs_bank(tmp_path, tiny_corpus):
    g = small_grid(tiny_corpus, clips=2, cutoffs=[4000, 8000])
    total = len(g.cells(g.load_clips(), "any"))  # the corpus's clips x 2 cutoffs x 2 searches
    assert total >= 8
    killed = tmp_path / "killed"
    proc = sweep_until_a_cell_is_stored(g, killed)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    at_kill = len(list((killed / "cells").glob("*.parquet")))
    assert 0 < at_kill < total, f"the kill should land mid-sweep ({at_kill} of {total} cells stored)"
    resumed = run_sweep(g, killed, progress=False)
    assert len(resumed) == total
    clean = run_sweep(g, tmp_path / "clean", progress=False)
    pd.testing.assert_frame_equal(frame(killed), frame(clean.path))
    assert not frame(killed).duplicated(["cell", "candidate"]).any()


def test_ctrl_c_stops_a_sweep_with_status_130_and_keeps_its_cells(tmp_path, tiny_corpus):
    # 16 candidates at 25 steps a cell: the sweep must still be running when the signal lands, on a fast machine too
    searches = [{"name": "random", "n": 16}, {"name": "baseline", "method": "band-replication"}]
    g = small_grid(tiny_corpus, clips=2, cutoffs=[4000, 8000], steps=25, searches=searches)
    out = tmp_path / "bank"
    proc = sweep_until_a_cell_is_stored(g, out)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate()[1]
    kept, total = len(ScoreBank(out)), len(g.cells(g.load_clips(), "any"))
    # what a failure needs to be diagnosed: stderr without its progress bar
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip() and not ln.startswith("sweep:")]
    said = (
        f"status {proc.returncode}, {kept} of {total} cells kept, running when signalled: {proc.seen_running}, "
        f"SIGINT here: {signal.getsignal(signal.SIGINT)}, stderr: {chr(10).join(lines)[-3000:]}"
    )
    assert proc.returncode == 130, said  # typer returns 130 outside standalone mode; it must not become 0
    assert "interrupted: what was finished is kept" in err and "Traceback" not in err, said
    assert 0 < kept < total, said


def test_local_and_ray_executors_give_identical_rows(tmp_path, tiny_corpus):
    require("ray")
    g = small_grid(tiny_corpus, searches=[{"name": "random", "n": 2}, {"name": "zero-order", "n": 2, "rounds": 1}])
    local = run_sweep(g, tmp_path / "local", executor="local", workers=2, threads=1, progress=False)
    ray_ = run_sweep(g, tmp_path / "ray", executor="ray", workers=2, threads=1, progress=False)
    assert len(local) == len(ray_) == 4
    pd.testing.assert_frame_equal(frame(local.path), frame(ray_.path))


# ----------------------------------------------------------------------------------------- stale rows
def test_changed_weights_steps_eta_or_cutoff_never_hit_an_old_row(tmp_path, tiny_corpus):
    from tsrlib.models import tiny

    g = small_grid(tiny_corpus, domains=["speech"], searches=[{"name": "random", "n": 2}])
    bank = run_sweep(g, tmp_path / "bank", progress=False)
    old = set(bank.cells())
    base = bank.frame()
    for change in ({"steps": 3}, {"eta": 0.5}, {"cutoffs": [8000]}):
        g2 = small_grid(tiny_corpus, domains=["speech"], searches=[{"name": "random", "n": 2}], **change)
        new = {c.key for c in g2.cells(g2.load_clips(), bank.weights)}
        assert not new & old, f"{change} reused a cell"
        rows = run_sweep(g2, tmp_path / "bank", progress=False).frame(cell=list(new))
        assert len(rows) == 2 and not np.allclose(rows.LSD, base.LSD), change
        old |= new
    # other weights: the bank refuses them; a new bank shares no cell with the old one
    m = tiny.load("tiny-real")
    with __import__("torch").no_grad():
        next(m.net.parameters()).add_(0.01)
    other = small_grid(
        tiny_corpus,
        domains=["speech"],
        searches=[{"name": "random", "n": 2}],
        model=str(m.save(tmp_path / "other.safetensors")),
    )
    with pytest.raises(BankMismatchError, match="another model"):
        run_sweep(other, tmp_path / "bank", progress=False)
    fresh = run_sweep(other, tmp_path / "other-bank", progress=False)
    assert not set(fresh.cells()) & old


def as_if_made_by(bank_path, grid: Grid, code: str) -> pd.DataFrame:
    """Rewrite a fresh bank as code ``code`` would have stored it (its digest and cell keys); returns its rows."""
    bank = ScoreBank(bank_path)
    clips = grid.load_clips()
    old_key = {n.key: o.key for n, o in zip(grid.cells(clips, bank.weights), grid.cells(clips, bank.weights, code))}
    df = bank.frame()
    df = df.assign(code=code, cell=df["cell"].map(old_key))
    df.to_parquet(bank.path / ScoreBank.MERGED, index=False)
    for p in bank.cells_dir.glob("*.parquet"):
        p.unlink()
    bank.write_header({**bank.header, "code": code})  # the same header (grid, environments) under the old code
    return df


def test_migration_carries_a_bank_to_new_code_only_when_every_row_reproduces(tmp_path, tiny_corpus):
    from tsrlib.sweep import migrate_bank

    g = small_grid(tiny_corpus)
    made = run_sweep(g, tmp_path / "bank", progress=False)
    fresh = made.frame()
    assert made.header["environments"] == [library_versions()]  # the libraries its cells were computed with
    with pytest.raises(BankMismatchError, match="--migrate"):  # the code changed: a plain sweep refuses the bank
        as_if_made_by(tmp_path / "bank", g, "0ldc0de")
        run_sweep(g, tmp_path / "bank", progress=False)
    moved = migrate_bank(g, tmp_path / "bank", progress=False)
    assert moved.code == scoring_version() and moved.cells() == sorted(set(fresh.cell))
    pd.testing.assert_frame_equal(moved.frame().drop(columns="wall_seconds"), fresh.drop(columns="wall_seconds"))
    (m,) = moved.header["migrations"]
    assert m["from"] == "0ldc0de" and m["to"] == scoring_version() and m["environment"] == library_versions()
    assert len(m["checked"]) == 4  # random and band replication, on speech and on music
    again = run_sweep(g, tmp_path / "bank", progress=False)
    assert again.frame().equals(moved.frame())  # nothing left to run
    assert again.header["environments"] == [library_versions()]  # and nothing new to record

    # a row the current code does not reproduce: refused, and the bank stays as it was
    old = as_if_made_by(tmp_path / "bank", g, "0ldc0de")
    first_random = g.cells(g.load_clips(), made.weights, "0ldc0de")[0].key  # the first clip's random search
    old.loc[old.cell == first_random, "LSD"] += 0.01
    old.to_parquet(tmp_path / "bank" / ScoreBank.MERGED, index=False)
    with pytest.raises(BankMismatchError, match=f"cell {first_random} .random.*LSD differ"):
        migrate_bank(g, tmp_path / "bank", progress=False)
    assert ScoreBank(tmp_path / "bank").code == "0ldc0de"
    assert migrate_bank(g, tmp_path / "none-yet", progress=False) is None


def test_library_versions_name_the_installed_numeric_libraries(monkeypatch):
    import torch

    from tsrlib import bank

    assert bank.library_versions()["torch"] == torch.__version__
    monkeypatch.setattr(bank, "NUMERIC_LIBRARIES", ("numpy", "no-such-distribution"))
    assert bank.library_versions() == {"numpy": np.__version__, "no-such-distribution": None}


def test_migration_compares_floats_to_kernel_noise_and_the_rest_exactly():
    from tsrlib.sweep import REGRESSION_RTOL, migration_rtol, same_column

    x = pd.Series([0.5, 3.7, np.nan, -1.25])
    assert same_column(x, x + 5e-7 * np.array([1, -1, 0, 1]))  # a rerun's thread-pool noise
    assert same_column(x, x + np.array([0, 9e-5, 0, 0]))  # another onnxruntime's convolutions (DNSMOS SIG)
    assert not same_column(x, x + np.array([0, 1e-3, 0, 0]))
    assert not same_column(x, x.fillna(0.0))  # NaN where the stored row has one, and only there
    assert not same_column(pd.Series([1, 2]), pd.Series([1, 3])) and same_column(pd.Series(["a"]), pd.Series(["a"]))
    # what the regression baseline computes follows float rounding (sweep.REGRESSION_RTOL): it gets 1e-2, the rest 1e-4
    drift = x + np.array([0, 3.7 * 1.5e-3, 0, 0])  # the largest relative change another machine gave
    assert same_column(x, drift, migration_rtol("random", "consensus")) and not same_column(x, drift)
    assert migration_rtol("baseline:regression", "LSD") == REGRESSION_RTOL > migration_rtol("random", "LSD")
    assert not same_column(x, x + np.array([0, 0.1, 0, 0]), REGRESSION_RTOL)


def test_a_bank_names_the_grid_it_was_last_swept_with(tmp_path, tiny_corpus):
    """Not the newest grid file: a fresh clone gives every file the same modification time."""
    import json
    import os

    from tsrlib.experiments import bank_grid

    one = small_grid(tiny_corpus, domains=["speech"], searches=[{"name": "baseline", "method": "input"}])
    two = small_grid(tiny_corpus, domains=["speech"], searches=[{"name": "baseline", "method": "sbr"}])
    run_sweep(one, tmp_path, progress=False)
    run_sweep(two, tmp_path, progress=False)
    files = {json.loads(f.read_text()) == two.to_dict(): f for f in (tmp_path / "grids").glob("*.json")}
    os.utime(files[True], (0, 0))  # the second grid's file is now the oldest: "the newest file" would pick the first
    assert bank_grid(tmp_path) == two.to_dict()
    run_sweep(one, tmp_path, progress=False)
    assert bank_grid(tmp_path) == one.to_dict()


# ------------------------------------------------------------------------------------------ bank views
def test_bank_views_feed_the_chapter_analyses(tmp_path, tiny_corpus):
    from tsrlib import experiments as ex

    searches = [
        {"name": "random", "n": 4},
        {"name": "zero-order", "n": 2, "rounds": 1},
        {"name": "baseline", "method": "band-replication"},
    ]
    g = small_grid(tiny_corpus, searches=searches, cutoffs=[4000, 8000])
    bank = run_sweep(g, tmp_path, progress=False)
    rows = ex.open_bank(tmp_path, "tiny-real").frame()
    with pytest.raises(BankMismatchError, match="stale: regenerate it with `tsr sweep"):
        ex.open_bank(tmp_path, "tiny")  # another model's weights
    cands, base, choices = ex.bank_candidates(rows), ex.bank_baselines(rows), ex.bank_choices(rows)
    assert len(cands) == 2 * 2 * 4 and set(base.method) == {"band replication"}
    assert len(choices) == 2 * 2 * 2 and set(choices.searcher) == {"random", "zero-order"}
    rnd = choices[choices.searcher == "random"].set_index(["clip", "cutoff"])
    for (clip, cutoff), c in cands.groupby(["clip", "cutoff"]):
        best = c.loc[c.continuity.idxmax()]  # random search picks its guide's best
        assert rnd.loc[(clip, cutoff), "LSD"] == best.LSD and rnd.loc[(clip, cutoff), "candidates"] == 4
    bars = ex.search_bars(cands, base)
    per = base.groupby(["domain", "cutoff"]).LSD.mean()
    np.testing.assert_allclose(
        bars.set_index(["domain", "cutoff"]).bar, per.loc[bars.set_index(["domain", "cutoff"]).index]
    )
    table = ex.searcher_table(choices)
    assert set(table.searcher) == {"random", "zero-order"} and (table.clips == 2).all()
    assert (table[table.searcher == "random"].d_lsd == 0).all()
    assert len(bank) == 2 * 2 * 3


def test_hacked_verifiers_flags_a_verifier_that_prefers_worse_candidates():
    from tsrlib import experiments as ex

    rng = np.random.default_rng(0)
    lsd = rng.uniform(1, 2, size=(12, 8))
    df = pd.DataFrame(
        {
            "clip": np.repeat(np.arange(12), 8),
            "cutoff": 4000.0,
            "LSD": lsd.ravel(),
            "good": (-lsd + 0.01 * rng.standard_normal(lsd.shape)).ravel(),  # tracks the oracle
            "bad": (lsd + 0.01 * rng.standard_normal(lsd.shape)).ravel(),  # rewards what the oracle punishes
            "blind": rng.standard_normal(lsd.size),
        }
    )
    t = ex.hacked_verifiers(df, ["good", "bad", "blind"]).set_index("verifier")
    assert t.loc["bad", "hacked"] and not t.loc["bad", "helps"]
    assert t.loc["good", "helps"] and not t.loc["good", "hacked"]
    assert t.loc["good", "spearman"] > 0.9 > -0.9 > t.loc["bad", "spearman"]
    assert not t.loc["blind", "hacked"] and not t.loc["blind", "helps"]
    assert (t.spearman_hi <= 1).all() and (t.spearman_lo >= -1).all()  # a correlation's interval stays in [-1, 1]


def test_per_domain_stacks_each_domain_and_the_pool():
    from tsrlib import experiments as ex

    rows = pd.DataFrame({"domain": ["a", "a", "b"], "x": [1.0, 3.0, 5.0]})
    out = ex.per_domain(lambda df, k: pd.DataFrame({"mean": [df.x.mean() * k]}), rows, 2)
    assert out.set_index("domain")["mean"].to_dict() == {"a": 4.0, "b": 10.0, "all": 6.0}


def test_agreement_interval_of_few_strong_correlations_stays_within_one():
    from tsrlib import experiments as ex

    lsd = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    v = [-lsd, -lsd, np.array([-2.0, -1.0, -5.0, -3.0, -4.0])]  # Spearman with -LSD: 1, 1 and 0.6
    df = pd.DataFrame(
        {"clip": np.repeat([0, 1, 2], 5), "cutoff": 4000.0, "LSD": np.tile(lsd, 3), "v": np.concatenate(v)}
    )
    t = ex.verifier_agreement(df, ["v"]).iloc[0]
    assert t.spearman == pytest.approx((1 + 1 + 0.6) / 3)
    assert t.spearman_hi == 1.0 and -1.0 <= t.spearman_lo < t.spearman
