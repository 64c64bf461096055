"""Searchers: argmax choice, NFE in closed form, pivots, paths reducing to sampling, seeds, oracles, cache, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from tsrlib import audio as tsa
from tsrlib import sampler, schedule
from tsrlib.errors import ConfigError, TsrError
from tsrlib.search import EarlyRejection, RandomSearch, SearchOverPaths, ZeroOrderSearch, make_searcher
from tsrlib.verifiers import Context, Verifier

SR = 24_000
STEPS = 6


class HighBand(Verifier):
    """Toy verifier: the high band's mean level (dB above 4 kHz); any candidate set has a clear argmax."""

    name = "toy-hf"
    axes = ("hf", "rms")
    primary = "hf"

    def _evaluate(self, x, sr, ctx):
        spec = np.abs(np.fft.rfft(x, axis=1)) ** 2
        f = np.fft.rfftfreq(x.shape[1], 1 / sr)
        return {"hf": 10 * np.log10(spec[:, f >= 4000].mean(axis=1)), "rms": np.sqrt((x**2).mean(axis=1))}


class Closeness(Verifier):
    """Toy verifier: minus the distance to a target audio (the pivot's), so nothing beats the target."""

    name = "toy-close"
    axes = ("close",)
    primary = "close"

    def __init__(self, target: np.ndarray):
        self.target = target

    def _evaluate(self, x, sr, ctx):
        return {"close": -np.abs(x - self.target[None, : x.shape[1]]).mean(axis=1)}


@pytest.fixture(scope="module")
def model():
    from tsrlib.models import tiny

    return tiny.load("tiny")


@pytest.fixture(scope="module")
def lr():
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    return tsa.degrade(x, SR, 4000.0, "cheby1")


def test_random_search_returns_the_verifier_argmax_and_the_sampler_candidates(model, lr):
    res = RandomSearch(n=5, steps=STEPS).run(model, lr, HighBand(), seed=3, cutoff_hz=4000.0)
    hf = res.frame()["hf"].to_numpy()
    assert res.chosen == int(np.argmax(hf)) and res.score == pytest.approx(hf.max())
    cands = sampler.generate(model, model.condition(lr, SR, 4000.0), 3, range(5), steps=STEPS)
    np.testing.assert_allclose(res.audio, cands.audio[res.chosen], atol=1e-6)
    assert res.nfe == 5 * STEPS == RandomSearch(n=5, steps=STEPS).nfe()
    assert set(res.frame().columns) >= {"id", "round", "parent", "noise", "hf", "rms"}


def test_a_reused_context_is_left_as_the_caller_gave_it(model, lr):
    ctx = Context(transcript="any words")
    first = RandomSearch(n=2, steps=STEPS).run(model, lr, HighBand(), seed=1, context=ctx)
    assert ctx.input is None and ctx.cutoff_hz is None and ctx.cache == {}
    # the next clip through the same context is searched on its own input, as with a fresh context
    noise = (0.1 * np.random.default_rng(7).standard_normal(SR)).astype(np.float32)
    other = tsa.degrade(noise, SR, 6000.0, "cheby1")
    again = RandomSearch(n=2, steps=STEPS).run(model, other, HighBand(), seed=1, context=ctx)
    fresh = RandomSearch(n=2, steps=STEPS).run(
        model, other, HighBand(), seed=1, context=Context(transcript="any words")
    )
    assert again.cutoff_hz == fresh.cutoff_hz != first.cutoff_hz
    np.testing.assert_array_equal(again.audio, fresh.audio)


@pytest.mark.parametrize(
    "searcher",
    [
        RandomSearch(n=3, steps=STEPS, eta=0.5, batch_size=2),
        ZeroOrderSearch(n=2, lam=0.2, rounds=2, neighbourhood="ball", on_stall="restart", steps=STEPS, solver="heun"),
        SearchOverPaths(n=2, m=3, delta_f=1, delta_b=2, first=3, steps=STEPS),
        EarlyRejection(n=4, keep=2, reject_at=2, steps=STEPS, eta=0.5, batch_size=3),
    ],
    ids=["random", "zero-order", "paths", "rejection"],
)
def test_a_report_rebuilds_its_searcher_and_reruns_its_search(model, lr, searcher):
    from tsrlib.search import Searcher

    sized = searcher.fit(2 * searcher.nfe())  # a budget that resizes it: the report holds the size it ran at
    res = sized.run(model, lr, HighBand(), seed=4)
    report = json.loads(json.dumps(res.to_json()))
    again = Searcher.from_config(report["searcher"])

    def settings(s):  # every attribute, not only those to_config names
        return {k: v for k, v in vars(s).items() if k != "cache"}

    assert type(again) is type(searcher) and settings(again) == settings(sized) != settings(searcher)
    assert again == sized != searcher
    assert report["model"] == "tiny"
    rerun = again.run(model, lr, HighBand(), seed=report["seed"], cutoff_hz=report["cutoff_hz"])
    assert rerun.chosen == res.chosen and rerun.nfe == res.nfe
    np.testing.assert_array_equal(rerun.audio, res.audio)
    with pytest.raises(TsrError, match="cannot build"):
        RandomSearch.from_config({**report["searcher"], "name": "paths"})


def test_budget_sizes_each_searcher(model, lr):
    assert RandomSearch(steps=STEPS).fit(40).n == 40 // STEPS
    zo = ZeroOrderSearch(n=3, steps=STEPS).fit(STEPS * 10)
    assert zo.rounds == 3 and zo.nfe() <= STEPS * 10
    res = RandomSearch(steps=STEPS).run(model, lr, HighBand(), budget=3 * STEPS, cutoff_hz=4000.0)
    assert len(res.candidates) == 3 and res.nfe == 3 * STEPS


@pytest.mark.parametrize("kind", ["shell", "ball"])
def test_zero_order_nfe_matches_closed_form(model, lr, kind):
    s = ZeroOrderSearch(n=3, rounds=2, lam=0.4, neighbourhood=kind, steps=STEPS)
    res = s.run(model, lr, HighBand(), seed=0, cutoff_hz=4000.0)
    assert res.nfe == s.nfe() == STEPS * (1 + 2 * 3)
    assert len(res.candidates) == 1 + 2 * 3
    assert all(c.parent is not None for c in res.candidates[1:])
    # HighBand scores each candidate on its own, so a pivot that only ever moves uphill ends on the best of all
    hf = res.frame()["hf"].to_numpy()
    assert res.chosen == int(np.argmax(hf)) and res.score == pytest.approx(hf.max())


def test_zero_order_keeps_its_pivot_or_restarts_when_nothing_improves(model, lr):
    pivot = sampler.generate(model, model.condition(lr, SR, 4000.0), 0, [0], steps=STEPS).audio[0]
    stay = ZeroOrderSearch(n=2, rounds=2, steps=STEPS).run(model, lr, Closeness(pivot), cutoff_hz=4000.0)
    assert stay.chosen == 0 and not any(h["moved"] for h in stay.history)
    assert {c.parent for c in stay.candidates[1:]} == {0}
    restart = ZeroOrderSearch(n=2, rounds=3, steps=STEPS, on_stall="restart").run(
        model, lr, Closeness(pivot), cutoff_hz=4000.0
    )
    restarts = [c for c in restart.candidates if c.noise.startswith("restart")]
    assert len(restarts) >= 1 and restart.chosen == 0  # the first pivot still wins the final comparison
    assert restart.nfe == ZeroOrderSearch(n=2, rounds=3, steps=STEPS).nfe(restarts=len(restarts))
    assert any(c.parent == restarts[0].id for c in restart.candidates)  # the next round searched around it


def test_neighbourhoods_differ_in_norm():
    import torch

    from tsrlib.search.zero_order import neighbours

    g = torch.Generator().manual_seed(0)
    pivot, eps, u = torch.randn(4000, generator=g), torch.randn(64, 4000, generator=g), torch.rand(64, generator=g)
    shell, ball = neighbours(pivot, eps, u, 0.5, "shell"), neighbours(pivot, eps, u, 0.5, "ball")
    d = 4000**0.5
    assert shell.norm(dim=1).mean() / d == pytest.approx(1.0, abs=0.03)
    assert ball.norm(dim=1).mean() / d == pytest.approx((1 + 0.25) ** 0.5, abs=0.03)
    assert (ball - pivot).norm(dim=1).max() / d <= 0.5 + 1e-6


def test_paths_with_one_branch_and_no_renoising_is_plain_sampling(model, lr):
    s = SearchOverPaths(n=3, m=1, delta_f=0, delta_b=2, steps=STEPS)
    res = s.run(model, lr, HighBand(), seed=5, cutoff_hz=4000.0)
    plain = sampler.generate(model, model.condition(lr, SR, 4000.0), 5, range(3), steps=STEPS).audio
    finals = [res.audio_of[c.id] for c in res.candidates if c.final]
    assert len(finals) == 3 and res.nfe == 3 * STEPS
    for f in finals:
        assert min(np.abs(f - p).max() for p in plain) < 1e-5


def test_paths_nfe_matches_closed_form(model, lr):
    s = SearchOverPaths(n=2, m=3, delta_f=1, delta_b=3, first=2, steps=STEPS + 2)  # 8 steps: rounds (1,4),(3,6),(5,8)
    assert s.levels() == [(1, 4), (3, 6), (5, 8)]
    res = s.run(model, lr, HighBand(), seed=0, cutoff_hz=4000.0)
    assert res.nfe == s.nfe() == 2 * (2 + 3 * 3 * 3)
    assert res.candidates[res.chosen].final and res.candidates[res.chosen].level == 8
    assert [h["level"] for h in res.history] == [4, 6, 8]


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_early_rejection_finishes_the_best_previews_as_random_search_would(model, lr, eta):
    n, keep, level = 6, 2, 2
    s = EarlyRejection(n=n, keep=keep, reject_at=level, steps=STEPS, eta=eta, batch_size=4)
    res = s.run(model, lr, HighBand(), seed=3, cutoff_hz=4000.0)
    cond = model.condition(lr, SR, 4000.0)
    # the previews are the one-step x0-predictions at the rejection level, scored together
    noise = sampler.CandidateNoise(3, range(n))
    ts = schedule.timesteps(STEPS)
    stopped = sampler.sample_ddim(
        model, cond, noise.initial(model.noise_shape(cond)), ts, eta=eta, noise=noise, stop=level
    )
    previews = res.frame()[lambda f: ~f.final]
    np.testing.assert_allclose(previews.hf, HighBand().evaluate(model.decode(stopped.x0, cond), SR)["hf"], atol=1e-3)
    kept = previews.nlargest(keep, "hf").id.tolist()
    finals = [c for c in res.candidates if c.final]
    assert sorted(c.parent for c in finals) == sorted(kept) and [c.level for c in finals] == [STEPS] * keep
    # a finished candidate is random search's candidate with the same index, step noise included
    full = sampler.generate(model, cond, 3, range(n), steps=STEPS, eta=eta).audio
    for c in finals:
        np.testing.assert_allclose(res.audio_of[c.id], full[int(c.noise.split("=")[1])], atol=1e-5)
    hf = [c.scores["hf"] for c in finals]
    assert res.chosen == finals[int(np.argmax(hf))].id
    assert res.nfe == s.nfe() == n * level + keep * (STEPS - level) < RandomSearch(n=n, steps=STEPS).nfe()


def test_early_rejection_keeping_all_is_random_search(model, lr):
    a = EarlyRejection(n=4, keep=4, reject_at=3, steps=STEPS).run(model, lr, HighBand(), seed=1, cutoff_hz=4000.0)
    b = RandomSearch(n=4, steps=STEPS).run(model, lr, HighBand(), seed=1, cutoff_hz=4000.0)
    np.testing.assert_allclose(a.audio, b.audio, atol=1e-5)
    assert a.nfe == b.nfe


def test_early_rejection_fits_a_budget_and_refuses_bad_settings():
    s = EarlyRejection(n=16, keep=4, reject_at=5, steps=20)
    assert s.nfe() == 16 * 5 + 4 * 15
    fitted = s.fit(400)
    assert fitted.n == (400 - 4 * 15) // 5 and fitted.nfe() <= 400 and fitted.keep == 4
    assert s.fit(10).n == 4  # never fewer candidates than it keeps
    assert EarlyRejection(steps=25).reject_at == 6 and EarlyRejection(steps=2).reject_at == 1
    with pytest.raises(ValueError, match="keep <= n"):
        EarlyRejection(n=2, keep=3)
    with pytest.raises(ValueError, match="reject_at"):
        EarlyRejection(reject_at=25, steps=25)
    with pytest.raises(ValueError, match="ddim"):
        EarlyRejection(solver="heun")


@pytest.mark.parametrize(
    "searcher",
    [
        RandomSearch(n=3, steps=STEPS, eta=1.0),
        ZeroOrderSearch(n=2, rounds=1, steps=STEPS, eta=1.0),
        SearchOverPaths(n=2, m=2, delta_f=1, delta_b=2, steps=STEPS, eta=1.0),
        EarlyRejection(n=3, keep=2, steps=STEPS, eta=1.0),
    ],
)
def test_same_seed_same_result(model, lr, searcher):
    a = searcher.run(model, lr, HighBand(), seed=7, cutoff_hz=4000.0)
    b = searcher.run(model, lr, HighBand(), seed=7, cutoff_hz=4000.0)
    c = searcher.run(model, lr, HighBand(), seed=8, cutoff_hz=4000.0)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.frame().equals(b.frame()) and not np.array_equal(a.audio, c.audio)


def test_oracle_is_refused_unless_allowed(model, lr):
    ref = np.random.default_rng(1).standard_normal(SR).astype(np.float32) * 0.1
    s = RandomSearch(n=2, steps=STEPS)
    with pytest.raises(TsrError, match="oracle"):
        s.run(model, lr, "lsd", context=Context(reference=ref, reference_sr=SR), cutoff_hz=4000.0)
    res = s.run(model, lr, "lsd", context=Context(reference=ref, reference_sr=SR), cutoff_hz=4000.0, allow_oracle=True)
    assert res.score == max(c.scores["lsd"] for c in res.candidates)


def test_cache_skips_sampled_candidates(model, lr, tmp_path):
    s = RandomSearch(n=3, steps=STEPS, cache=str(tmp_path))
    first = s.run(model, lr, HighBand(), seed=2, cutoff_hz=4000.0)
    again = RandomSearch(n=4, steps=STEPS, cache=str(tmp_path)).run(model, lr, HighBand(), seed=2, cutoff_hz=4000.0)
    assert first.cache_hits == 0 and again.cache_hits == 3 and again.nfe == 4 * STEPS
    np.testing.assert_array_equal(first.audio_of[0], again.audio_of[0])
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ConfigError, match="a file; the cache is a folder"):
        RandomSearch(n=2, steps=STEPS, cache=str(tmp_path / "file")).run(
            model, lr, HighBand(), seed=2, cutoff_hz=4000.0
        )


def test_bad_search_arguments_are_clear(model, lr):
    with pytest.raises(TsrError, match="unknown search"):
        make_searcher("beam")
    with pytest.raises(ValueError, match="delta_b > delta_f"):
        SearchOverPaths(delta_f=3, delta_b=3)
    with pytest.raises(ValueError, match="neighbourhood"):
        ZeroOrderSearch(neighbourhood="cube")
    from tsrlib.models import tiny

    with pytest.raises(TsrError, match="no noise to search"):
        RandomSearch(n=2, steps=2).run(tiny.load("regression"), lr, HighBand(), cutoff_hz=4000.0)
    with pytest.raises(TsrError, match="at most 60 s"):
        RandomSearch(n=1, steps=2).run(model, np.tile(lr, 61), HighBand(), cutoff_hz=4000.0)
    with pytest.raises(TsrError, match="takes no 'nn'.*n, solver"):
        make_searcher("random", n=2, nn=3)
    with pytest.raises(TsrError, match="batch_size must be at least 1"):
        RandomSearch(n=2, batch_size=0)
    for budget in (0, -25):
        with pytest.raises(TsrError, match="at least 1; got"):
            RandomSearch(n=2, steps=2).run(model, lr, HighBand(), budget, cutoff_hz=4000.0)
    with pytest.raises(TsrError, match="a Verifier or a verifier's name, got 42"):
        RandomSearch(n=2, steps=2).run(model, lr, 42, cutoff_hz=4000.0)


def test_cli_search_none_is_candidate_zero_of_random_search(tmp_path, lr):
    tsa.save(tmp_path / "lr.wav", lr, SR, subtype="FLOAT")
    base = [
        sys.executable,
        "-m",
        "tsrlib.cli",
        "upsample",
        str(tmp_path / "lr.wav"),
        "--steps",
        str(STEPS),
        "--seed",
        "4",
        "--cutoff",
        "4000",
    ]
    subprocess.run(base + ["-o", str(tmp_path / "none.wav")], check=True, capture_output=True)
    out = subprocess.run(
        base
        + [
            "-o",
            str(tmp_path / "rand.wav"),
            "--search",
            "random",
            "--n",
            "3",
            "--verifier",
            "continuity",
            "--report",
            str(tmp_path / "r.json"),
            "--save-candidates",
            str(tmp_path / "c"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["nfe"] == 3 * STEPS and len(rep["candidates"]) == 3 and rep["cutoff_hz"] == 4000.0
    assert json.loads(out.stdout)["chosen"] == rep["chosen"]
    none, _ = tsa.load(tmp_path / "none.wav", sr=None)
    cand0, _ = tsa.load(tmp_path / "c" / "candidate-0000.wav", sr=None)
    np.testing.assert_allclose(none, cand0, atol=1e-4)  # 16-bit files: one step is 3e-5
    chosen, _ = tsa.load(tmp_path / "rand.wav", sr=None)
    picked, _ = tsa.load(tmp_path / "c" / f"candidate-{rep['chosen']:04d}.wav", sr=None)
    np.testing.assert_allclose(chosen, picked, atol=1e-4)
    subprocess.run(
        base
        + ["-o", str(tmp_path / "rej.wav"), "--search", "rejection", "--n", "4", "--keep", "2", "--reject-at", "2"]
        + ["--verifier", "continuity", "--report", str(tmp_path / "rej.json")],
        check=True,
        capture_output=True,
    )
    rep = json.loads((tmp_path / "rej.json").read_text())
    assert rep["searcher"]["name"] == "rejection" and rep["searcher"]["keep"] == 2
    assert rep["nfe"] == 4 * 2 + 2 * (STEPS - 2) and len(rep["candidates"]) == 4 + 2


def test_cli_code_prior_is_reported_and_replayed_and_refused_where_it_cannot_apply(tmp_path, lr):
    tsa.save(tmp_path / "lr.wav", lr, SR, subtype="FLOAT")
    cli = [sys.executable, "-m", "tsrlib.cli", "upsample", str(tmp_path / "lr.wav"), "--steps", str(STEPS)]
    search = ["--cutoff", "4000", "--search", "random", "--n", "2", "--verifier", "continuity", "--seed", "3"]
    out = subprocess.run(
        cli + search + ["-o", str(tmp_path / "a.wav"), "--code-prior", "-1.5:1", "--report", str(tmp_path / "r.json")],
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(out.stdout)["code_prior"] == [-1.5, 1.0]
    assert json.loads((tmp_path / "r.json").read_text())["code_prior"] == [-1.5, 1.0]
    subprocess.run(
        cli + ["-o", str(tmp_path / "b.wav"), "--replay", str(tmp_path / "r.json")], check=True, capture_output=True
    )
    np.testing.assert_array_equal(tsa.load(tmp_path / "a.wav", sr=None)[0], tsa.load(tmp_path / "b.wav", sr=None)[0])
    for extra, message in [
        (["--model", "band-replication", "--code-prior", "-1:1"], "has none"),
        (["--code-prior", "-1.5"], "MEAN:STD"),
    ]:
        r = subprocess.run(cli + ["-o", str(tmp_path / "c.wav")] + extra, capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_cli_search_without_a_verifier_uses_the_default_and_mbr_picks_the_medoid(tmp_path, lr):
    from tsrlib import metrics
    from tsrlib.verifiers import DEFAULT, Context, get_verifier

    tsa.save(tmp_path / "lr.wav", lr, SR, subtype="FLOAT")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tsrlib.cli",
            "upsample",
            str(tmp_path / "lr.wav"),
            "--steps",
            str(STEPS),
            "--cutoff",
            "4000",
            "-o",
            str(tmp_path / "o.wav"),
            "--search",
            "random",
            "--n",
            "4",
            "--save-candidates",
            str(tmp_path / "c"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert f"--verifier {DEFAULT}" in out.stderr and json.loads(out.stdout)["verifier"] == DEFAULT
    cands = np.stack([tsa.load(tmp_path / "c" / f"candidate-{k:04d}.wav", sr=None)[0] for k in range(4)])
    # an independent expectation from the metric itself: the candidate nearest the others on average (LSD-HF)
    d = np.array([[metrics.lsd_hf(a, b, SR, 4000.0)[0] for b in cands] for a in cands])
    scores = get_verifier("mbr").score(cands, SR, Context(input=lr, input_sr=SR, cutoff_hz=4000.0))
    np.testing.assert_allclose(scores, -d.sum(axis=1) / 3)
    assert json.loads(out.stdout)["chosen"] == int(np.argmin(d.sum(axis=1)))


@pytest.mark.parametrize(
    "searcher,starts",
    [
        (RandomSearch(n=3, steps=STEPS, batch_size=2), 3),
        (ZeroOrderSearch(n=2, lam=0.2, rounds=2, steps=STEPS), 1),  # the pivot; its neighbours mix it with directions
        (SearchOverPaths(n=2, m=2, delta_f=1, delta_b=2, first=3, steps=STEPS), 2),
        (EarlyRejection(n=4, keep=2, reject_at=2, steps=STEPS, batch_size=3), 4),
    ],
    ids=["random", "zero-order", "paths", "rejection"],
)
def test_every_search_starts_from_the_models_code_prior(lr, searcher, starts):
    from tsrlib.models import tiny

    model = tiny.load("tiny").with_code_prior((-2.0, 0.5))
    hook, drawn = model.initial_noise, []

    def spy(x_T, cond):
        drawn.append(x_T.clone())
        return hook(x_T, cond)

    model.initial_noise = spy
    res = searcher.run(model, lr, HighBand(), seed=2, cutoff_hz=4000.0)
    x = torch.cat(drawn)
    assert len(x) == starts
    # what was drawn is each candidate's own standard draw: candidates 0..starts-1 of seed 2
    cond = model.condition(lr, SR, 4000.0)
    torch.testing.assert_close(x, sampler.CandidateNoise(2, range(starts)).initial(model.noise_shape(cond)))
    # and the search sampled from the prior's noise: the same search without the prior ends elsewhere
    plain = searcher.run(tiny.load("tiny"), lr, HighBand(), seed=2, cutoff_hz=4000.0)
    assert res.nfe == plain.nfe and not np.allclose(res.audio, plain.audio, atol=1e-3)


def test_random_search_with_a_code_prior_samples_the_shifted_noise(lr):
    from tsrlib.models import tiny

    model = tiny.load("tiny").with_code_prior((-2.0, 0.5))
    res = RandomSearch(n=2, steps=STEPS).run(model, lr, HighBand(), seed=5, cutoff_hz=4000.0)
    cond = model.condition(lr, SR, 4000.0)
    x = sampler.CandidateNoise(5, range(2)).initial(model.noise_shape(cond))
    mask = cond.features["mask"].expand(2, -1)
    code = tiny.read_band_code(x, mask)
    code[:, 0] = -2.0 + 0.5 * code[:, 0]  # by hand, as the prior's definition says
    x0, _ = sampler.sample_from(model, cond, tiny.write_band_code(x, mask, code), None, steps=STEPS)
    np.testing.assert_allclose(res.audio, model.decode(x0, cond)[res.chosen], atol=1e-5)


def test_model_fingerprint_follows_the_config_and_in_place_weight_changes():
    import dataclasses

    import torch

    from tsrlib.models import tiny
    from tsrlib.search.cache import model_fingerprint

    m = tiny.TinySR(tiny.ModelConfig(hidden=16, dilations=(1,)))
    a = model_fingerprint(m)
    assert model_fingerprint(m) == a
    with torch.no_grad():
        m.net.out.bias.add_(1.0)  # in place: the object is the same, its weights are not
    b = model_fingerprint(m)
    m.cfg = dataclasses.replace(m.cfg, silence_gate_db=-60.0)  # same weights, other audio
    c = model_fingerprint(m)
    assert len({a, b, c}) == 3
    m.cfg = dataclasses.replace(m.cfg, silence_gate_db=None)
    with torch.no_grad():
        m.net.out.bias.sub_(1.0)
    assert model_fingerprint(m) == a  # content, not history
