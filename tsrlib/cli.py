"""The ``tsr`` command: a thin typer front-end; every command parses, calls tsrlib, and prints.

Bad input ends with a one-line ``error: ...`` on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

from tsrlib import audio
from tsrlib.errors import ClippingWarning, ConfigError, TsrError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Inference-time scaling for diffusion audio super-resolution."
)
data_app = typer.Typer(no_args_is_help=True, help="Build or index audio corpora.")
app.add_typer(data_app, name="data")


def _echo_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2))


@app.command()
def degrade(
    input: Path = typer.Argument(..., help="Audio file (wav, flac, ogg, ...)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the band-limited audio."),
    cutoff: float = typer.Option(..., "--cutoff", help="Band limit in Hz (the paper uses 4000 and 8000)."),
    filter: str = typer.Option("cheby1", "--filter", help="butter, cheby1, ellip, bessel or random."),
    order: Optional[int] = typer.Option(None, "--order", min=1, help="Filter order (default 8; random draws 2-10)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed for --filter random."),
    sr: Optional[int] = typer.Option(None, "--sr", min=1, help="Output rate in Hz (default: the input's)."),
) -> None:
    """Low-pass a file at CUTOFF Hz, as super-resolution training does. Length and rate are kept."""
    audio.check_writable(output)  # before any work
    x, file_sr = audio.load(input, sr=None)
    y = audio.degrade(x, file_sr, cutoff, filter=filter, order=order, seed=seed)  # type: ignore[arg-type]
    if sr is not None:
        y = audio.resample(y, file_sr, sr)
    audio.save(output, y, sr or file_sr)
    _echo_json(
        {
            "output": str(output),
            "cutoff_hz": cutoff,
            "filter": filter,
            "sample_rate": sr or file_sr,
            "num_samples": len(y),
        }
    )


@app.command()
def lsd(
    reference: Path = typer.Argument(..., help="Full-band reference audio."),
    estimate: Path = typer.Argument(..., help="Audio to evaluate."),
    sr: int = typer.Option(
        audio.MODEL_SR, "--sr", min=1, help="Evaluation rate in Hz; both files are resampled to it."
    ),
    cutoff: Optional[float] = typer.Option(
        None, "--cutoff", help="Also report LSD-HF and LSD-LF around this frequency (Hz)."
    ),
) -> None:
    """Log-spectral distance between two files (n_fft 2048, hop 512, log10 power), as JSON."""
    from tsrlib import metrics  # torch loads only for the commands that need it

    ref, _ = audio.load(reference, sr=sr)
    est, _ = audio.load(estimate, sr=sr)
    n = min(len(ref), len(est))
    if abs(len(ref) - len(est)) > 0.01 * sr:
        warnings.warn(f"lengths differ by {abs(len(ref) - len(est))} samples; comparing the first {n}", stacklevel=1)
    out = {"lsd": float(metrics.lsd(ref[:n], est[:n])[0]), "sr": sr}
    if cutoff is not None:
        audio.check_cutoff(cutoff, sr)
        out["lsd_hf"] = float(metrics.lsd_hf(ref[:n], est[:n], sr, cutoff)[0])
        out["lsd_lf"] = float(metrics.lsd_lf(ref[:n], est[:n], sr, cutoff)[0])
        out["cutoff_hz"] = cutoff
    _echo_json(out)


@app.command()
def cutoff(input: Path = typer.Argument(..., help="Audio file.")) -> None:
    """Estimate the bandwidth (Hz) of a file from its cumulative log-spectral energy."""
    x, file_sr = audio.load(input, sr=None)
    _echo_json({"cutoff_hz": round(audio.detect_cutoff(x, file_sr), 1), "sample_rate": file_sr})


@app.command()
def upsample(
    input: Path = typer.Argument(..., help="Band-limited audio file."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the super-resolved audio."),
    cutoff: str = typer.Option("auto", "--cutoff", help="Input bandwidth in Hz, or auto to detect it."),
    steps: int = typer.Option(25, "--steps", help="Sampler steps."),
    eta: float = typer.Option(
        0.0, "--eta", min=0.0, help="DDIM eta: 0 deterministic path, 1 ancestral (AudioSR's default)."
    ),
    solver: str = typer.Option("ddim", "--solver", help="ddim or heun."),
    seed: int = typer.Option(0, "--seed", min=0, help="Noise seed; the same seed gives the same output."),
    device: str = typer.Option("auto", "--device", help="auto (a GPU if any, else cpu), cpu, cuda, cuda:N or mps."),
    sr: Optional[int] = typer.Option(
        None, "--sr", min=1, help="Output rate in Hz (default: the model's: 24000, audiosr 48000)."
    ),
    model: str = typer.Option(
        "tiny-real",
        "--model",
        help="tiny-real or tiny (diffusion), regression, band-replication or sbr (DSP), a .safetensors path, "
        "or audiosr (the paper's model, 48 kHz; needs --checkpoint).",
    ),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", help="--model audiosr: a local AudioSR checkpoint (pytorch_model.bin)."
    ),
    guidance: Optional[float] = typer.Option(
        None,
        "--guidance",
        help="Classifier-free guidance scale (default: the model's; 3.5 for audiosr, tiny has none).",
    ),
    compile_unet: bool = typer.Option(
        False,
        "--compile",
        help="--model audiosr: run the UNet under torch.compile with CUDA graphs (for a GPU; each batch size compiles "
        "first, a minute or more). Same weights; floats may differ in the last bits.",
    ),
    search: str = typer.Option("none", "--search", help="none, random, zero-order, paths or rejection."),
    n: int = typer.Option(
        16, "--n", help="Candidates (random, rejection: previewed), neighbours per round (zero-order) or paths kept."
    ),
    verifier: Optional[str] = typer.Option(None, "--verifier", help="Verifier name or ensemble:a,b,c (default: mbr)."),
    budget_nfe: Optional[int] = typer.Option(None, "--budget-nfe", help="Size the search to this many NFE."),
    transcript: Optional[str] = typer.Option(None, "--transcript", help="What is said (WER verifier)."),
    caption: Optional[str] = typer.Option(None, "--caption", help="A text description (CLAP verifier)."),
    lam: float = typer.Option(0.3, "--lam", help="Zero-order neighbourhood scale."),
    rounds: int = typer.Option(2, "--rounds", help="Zero-order rounds."),
    neighbourhood: str = typer.Option("shell", "--neighbourhood", help="Zero-order neighbourhood: shell or ball."),
    m: int = typer.Option(2, "--m", help="Paths: branches per path."),
    delta_f: int = typer.Option(2, "--delta-f", help="Paths: levels re-noised forward when branching."),
    delta_b: int = typer.Option(5, "--delta-b", help="Paths: levels denoised back per round."),
    keep: int = typer.Option(4, "--keep", help="Rejection: candidates finished of the --n previewed."),
    reject_at: Optional[int] = typer.Option(
        None, "--reject-at", help="Rejection: the level (of --steps) where previews are scored (default steps/4)."
    ),
    code_prior: Optional[str] = typer.Option(
        None,
        "--code-prior",
        help="Draw the invented band's gain code from N(MEAN, STD^2): MEAN:STD (e.g. -1.5:1, quieter bands), or none. "
        "Default: the model's own (the shipped models: none). Band-code models (tiny-real, tiny) only.",
    ),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a JSON report of the search here."),
    replay: Optional[Path] = typer.Option(
        None,
        "--replay",
        help="Search as this --report did: its model, searcher, "
        "verifier, seed and cutoff (the search options above are ignored).",
    ),
    save_candidates: Optional[Path] = typer.Option(
        None, "--save-candidates", help="Write every evaluated candidate here."
    ),
    cache: Optional[Path] = typer.Option(
        None, "--cache", help="Candidate cache folder (reruns skip sampled candidates)."
    ),
) -> None:
    """Super-resolve a band-limited file with the embedded model, optionally searching the noise with a verifier.

    ``--model band-replication`` or ``sbr`` runs a blind DSP baseline instead (no search).
    """
    from tsrlib import models
    from tsrlib.models import baselines
    from tsrlib.train.trainer import pick_device

    audio.check_writable(output)  # before any work
    _check_side_paths(report=report, save_candidates=save_candidates, cache=cache)
    dev = pick_device(device)  # a device this machine lacks, then a missing checkpoint, fail before the audio loads
    before = _read_report(replay) if replay is not None else None
    if before is not None:
        model, verifier, seed, cutoff, search = (
            before["model"],
            before["verifier"],
            before["seed"],
            str(before["cutoff_hz"]),
            before["searcher"]["name"],
        )
        if before.get("code_prior") is not None:
            code_prior = ":".join(repr(float(v)) for v in before["code_prior"])
    if checkpoint is not None and model != "audiosr":
        raise ConfigError("--checkpoint is for --model audiosr; give a tsrlib model's .safetensors file as --model")
    if compile_unet and model != "audiosr":
        raise ConfigError("--compile is for --model audiosr, whose UNet is launch-bound on a GPU")
    m_ = None if model in baselines.METHODS else models.load(model, dev, checkpoint=checkpoint)
    if compile_unet:
        if dev.type != "cuda":
            notice = f"notice: --compile on {dev}: CUDA graphs need a GPU, and compiling alone takes minutes here"
            print(notice, file=sys.stderr)
        m_.compile()
    if code_prior is not None:
        if not hasattr(m_, "with_code_prior"):
            raise ConfigError(f"--code-prior moves a band-code model's noise; --model {model} has none")
        from tsrlib.models.tiny import parse_code_prior

        m_.with_code_prior(parse_code_prior(code_prior))
    prior_used = getattr(getattr(m_, "cfg", None), "code_prior", None)
    x, file_sr = audio.load(input, sr=None)
    warnings.simplefilter("ignore", ClippingWarning)  # said once, of the file; not again of each stage's copy
    cut = None if cutoff == "auto" else _hz(cutoff, "--cutoff")
    if m_ is None:
        if search != "none" or verifier is not None:
            raise ConfigError(f"--model {model} is a deterministic DSP baseline: there is nothing to search")
        xm = audio.resample(x, file_sr, audio.MODEL_SR)
        cut_used = audio.band_cutoff(xm, audio.MODEL_SR, cut)
        y = baselines.METHODS[model](xm, audio.MODEL_SR, cut_used, seed=seed)
        out_sr = _write_output(output, y, audio.MODEL_SR, x, file_sr, sr)
        _echo_json(
            {
                "output": str(output),
                "model": model,
                "cutoff_hz": round(cut_used, 1),
                "sample_rate": out_sr,
                "seed": seed,
                "nfe": 0,
            }
        )
        return
    if search == "none" and verifier is None:
        from tsrlib.upsample import upsample as run

        res = run(
            m_, x, file_sr, cutoff_hz=cut, seed=seed, steps=steps, eta=eta, solver=solver, guidance_scale=guidance
        )
        y, cut_used, nfe, extra = res.audio[0], res.cutoff_hz, res.nfe, {}
    else:
        if verifier is None:
            from tsrlib.verifiers import DEFAULT

            verifier = DEFAULT
            print(
                f"notice: --verifier {DEFAULT} (the default; README, 'Real recordings', says why)",
                file=sys.stderr,
            )
        from tsrlib.search import Searcher, make_searcher

        kw = {
            "steps": steps,
            "eta": eta,
            "solver": solver,
            "cache": str(cache) if cache else None,
            "guidance_scale": guidance,
        }
        if before is not None:
            searcher = Searcher.from_config(before["searcher"], cache=kw["cache"])  # sized as it ran: no budget
            steps, eta, solver, budget_nfe = searcher.steps, searcher.eta, searcher.solver, None
        else:
            kw |= {
                "random": {"n": n},
                "none": {},
                "zero-order": {"n": n, "lam": lam, "rounds": rounds, "neighbourhood": neighbourhood},
                "paths": {"n": n, "m": m, "delta_f": delta_f, "delta_b": delta_b},
                "rejection": {"n": n, "keep": keep, "reject_at": reject_at},
            }.get(search, {})
            searcher = make_searcher(search, **kw)
        res = searcher.run(
            m_,
            x,
            verifier,
            budget_nfe,
            seed,
            sr=file_sr,
            cutoff_hz=cut,
            context=_context(None, transcript, caption, None),
            progress=True,
        )
        y, cut_used, nfe = res.audio, res.cutoff_hz, res.nfe
        if budget_nfe is not None and nfe > budget_nfe:
            print(
                f"notice: --budget-nfe {budget_nfe} is under this search's minimum; it spent {nfe} NFE", file=sys.stderr
            )
        extra = {
            "search": res.searcher,
            "verifier": res.verifier,
            "chosen": res.chosen,
            "score": res.score,
            "candidates": len(res.candidates),
            "wall_seconds": round(res.wall_seconds, 2),
        }
        if report is not None:
            report.parent.mkdir(parents=True, exist_ok=True)
            names = {"model": model, "code_prior": prior_used}  # the name --model took, the prior it sampled with
            report.write_text(json.dumps(res.to_json() | names, indent=2))
        if save_candidates is not None:
            for cid, a in res.audio_of.items():
                audio.save(save_candidates / f"candidate-{cid:04d}.wav", a, res.sr)
    out_sr = _write_output(output, y, m_.sr, x, file_sr, sr)
    _echo_json(
        {
            "output": str(output),
            "model": m_.name,
            "cutoff_hz": round(cut_used, 1),
            "sample_rate": out_sr,
            "seed": seed,
            "steps": steps,
            "eta": eta,
            "solver": solver,
            "nfe": nfe,
            **({"code_prior": list(prior_used)} if prior_used else {}),
            **({"compiled": True} if compile_unet else {}),
            **extra,
        }
    )


def _check_side_paths(*, report: Optional[Path], save_candidates: Optional[Path], cache: Optional[Path]) -> None:
    """Refuse, before any work, a --report that is a folder and a --save-candidates or --cache that is a file."""
    if report is not None and report.is_dir():
        raise ConfigError(f"--report {report}: a folder; give a file name such as {report / 'report.json'}")
    for option, folder in (("--save-candidates", save_candidates), ("--cache", cache)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise ConfigError(f"{option} {folder}: a file; it takes a folder")


def _read_report(path: Path) -> dict:
    """A ``--report`` file's search settings; a file that is not one is a one-line error."""
    try:
        rep = json.loads(Path(path).read_text())
        keys = {"model", "verifier", "seed", "cutoff_hz"}
        if not keys <= set(rep) or "name" not in rep.get("searcher", {}):
            raise ValueError(f"it lacks {sorted(keys - set(rep)) or ['searcher.name']}")
    except (OSError, ValueError) as e:
        raise ConfigError(f"--replay {path}: not a tsr upsample --report file ({e})") from None
    return rep


def _write_output(path: Path, y, model_sr: int, x, x_sr: int, sr: Optional[int]) -> int:
    """Save ``y`` (at ``model_sr``) at ``sr`` (default the model's), keeping the input's band above the model's; returns the rate."""
    from tsrlib.upsample import to_output_rate

    y, note = to_output_rate(y, model_sr, x, x_sr, sr or model_sr)
    if note:
        print(f"notice: {note}", file=sys.stderr)
    audio.save(path, y, sr or model_sr)
    return sr or model_sr


def _context(
    input: Optional[Path],
    transcript: Optional[str],
    caption: Optional[str],
    reference: Optional[Path],
    cutoff: Optional[float] = None,
):
    from tsrlib.verifiers import Context

    ctx = Context(transcript=transcript, caption=caption, cutoff_hz=cutoff)
    if input is not None:
        ctx.input, ctx.input_sr = audio.load(input, sr=None)
    if reference is not None:
        ctx.reference, ctx.reference_sr = audio.load(reference, sr=None)
    return ctx


@app.command()
def score(
    candidates: list[Path] = typer.Argument(..., help="Candidate audio files (resampled to the first one's rate)."),
    verifier: str = typer.Option(..., "--verifier", help="A verifier name, or ensemble:a,b,c (see tsrlib.verifiers)."),
    input: Optional[Path] = typer.Option(None, "--input", help="The band-limited input."),
    transcript: Optional[str] = typer.Option(None, "--transcript", help="What is said (WER)."),
    caption: Optional[str] = typer.Option(None, "--caption", help="A text description (CLAP)."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="The clean reference (oracles only)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N, mps or auto (a GPU if any)."),
) -> None:
    """Score candidates with a verifier; prints JSON, one entry per candidate with every axis (higher is better)."""
    import numpy as np

    from tsrlib.verifiers import get_verifier

    v = get_verifier(verifier, device)
    loaded = [audio.load(p, sr=None) for p in candidates]
    sr = loaded[0][1]
    rows = [audio.resample(x, s, sr) for x, s in loaded]
    n = min(len(r) for r in rows)
    if any(len(r) != n for r in rows):
        print(f"notice: candidates differ in length; all are cut to the shortest ({n} samples)", file=sys.stderr)
    axes = v.evaluate(np.stack([r[:n] for r in rows]), sr, _context(input, transcript, caption, reference))
    _echo_json(
        {
            "verifier": v.name,
            "primary": v.primary,
            "oracle": v.oracle,
            "higher_is_better": True,
            "candidates": [
                {"file": str(p), **{a: float(s[i]) for a, s in axes.items()}} for i, p in enumerate(candidates)
            ],
        }
    )


@app.command()
def train(
    manifest: str = typer.Option(
        "data/generated/small/manifest.csv", "--manifest", help="Corpus manifest, or several separated by commas."
    ),
    out: Path = typer.Option(
        Path("runs/tiny"), "--out", help="Run folder: checkpoints and log.csv (resumes if present)."
    ),
    mode: str = typer.Option("diffusion", "--mode", help="diffusion (v-prediction) or regression (L2 baseline)."),
    steps: int = typer.Option(6000, "--steps"),
    batch: int = typer.Option(16, "--batch"),
    lr: float = typer.Option(1e-3, "--lr"),
    hidden: int = typer.Option(128, "--hidden", help="Channels of the network."),
    global_context: bool = typer.Option(
        False,
        "--global-context/--no-global-context",
        help="Clip-wide FiLM input in every block (the shipped model has none).",
    ),
    warmup: int = typer.Option(200, "--warmup", help="Steps of linear learning-rate warm-up."),
    seed: int = typer.Option(0, "--seed", min=0),
    hf_gain_db: float = typer.Option(4.0, "--hf-gain-db", help="Spread (dB) of the removed band's level in targets."),
    hf_tilt_db: float = typer.Option(
        0.0, "--hf-tilt-db", help="Spread (dB/octave) of the removed band's tilt in targets."
    ),
    band_code: bool = typer.Option(
        False,
        "--band-code/--no-band-code",
        help="The noise carries each example's band gain and tilt (see tsrlib.models.tiny).",
    ),
    init: str = typer.Option("", "--init", help="Start from these weights (tiny, regression or a .safetensors path)."),
    prior: str = typer.Option("none", "--prior", help="none, or band-replication: start from the blind DSP estimate."),
    code_source: str = typer.Option(
        "augment", "--code-source", help="Band codes from the gain/tilt augmentation, or measured on the recordings."
    ),
    code_rho: float = typer.Option(1.0, "--code-rho", help="Measured codes: correlation of code and recording (0-1]."),
    prior_smoothing: str = typer.Option("3,5", "--prior-smoothing", help="Bins,frames of the prior's level average."),
    silence_gate_db: Optional[float] = typer.Option(
        None,
        "--silence-gate-db",
        help="Invent nothing in frames this far (dB, negative) below the "
        "input's loudest; stored in the model, used when decoding.",
    ),
    envelope_cap_db: Optional[float] = typer.Option(
        None,
        "--envelope-cap-db",
        help="With --prior band-replication: no frame of a candidate's band more than this (dB) above the copy's "
        "envelope shifted by the candidate's own gain; stored in the model, used when decoding.",
    ),
    code_prior: str = typer.Option(
        "none",
        "--code-prior",
        help="MEAN:STD: sample with the invented band's gain code drawn from N(MEAN, STD^2), stored in the model "
        "(tsr upsample's default for it), or none.",
    ),
    val_every: int = typer.Option(500, "--val-every", help="Steps between validations (and at the last step)."),
    val_clips: int = typer.Option(8, "--val-clips", help="Validation clips, taken in turn from each domain and voice."),
    val_candidates: int = typer.Option(
        8,
        "--val-candidates",
        help="Candidates per validation input; with more than 1 the log holds their mean and best.",
    ),
    device: str = typer.Option("auto", "--device"),
    export: Optional[Path] = typer.Option(
        None, "--export", help="Write the EMA weights (fp16 safetensors) here at the end."
    ),
) -> None:
    """Train the embedded model (or its regression baseline) on a corpus manifest."""
    from tsrlib.models.tiny import parse_code_prior
    from tsrlib.train.trainer import TrainConfig
    from tsrlib.train.trainer import train as run

    cfg = TrainConfig.from_options(
        manifest=str(manifest),
        out=str(out),
        mode=mode,
        steps=steps,
        batch=batch,
        lr=lr,
        warmup=warmup,
        hidden=hidden,
        global_context=global_context,
        seed=seed,
        hf_gain_db=hf_gain_db,
        hf_tilt_db=hf_tilt_db,
        band_code=band_code,
        init=init,
        prior=prior,
        code_source=code_source,
        code_rho=code_rho,
        prior_smoothing=_odd_pair(prior_smoothing, "--prior-smoothing"),
        silence_gate_db=silence_gate_db,
        envelope_cap_db=envelope_cap_db,
        code_prior=parse_code_prior(code_prior),
        val_every=val_every,
        val_clips=val_clips,
        val_candidates=val_candidates,
        device=device,
    )
    model = run(cfg, log=lambda m: print(m, file=sys.stderr, flush=True))
    if export is not None:
        from tsrlib.train.trainer import export_with_provenance

        model.name = export.stem  # the name tsr upsample --model and tiny.load know it by
        export_with_provenance(model, cfg, export, command="tsr " + " ".join(sys.argv[1:]))
    _echo_json({"run": str(out), "exported": str(export) if export else None})


def _hz(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{option} takes a frequency in Hz (such as 4000) or auto, got {text!r}") from None


def _odd_pair(text: str, option: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"{option} takes two whole numbers such as 3,5, got {text!r}") from None
    if a < 1 or b < 1 or a % 2 == 0 or b % 2 == 0:
        raise ConfigError(f"{option} takes two odd positive numbers (a centred average), got {text!r}")
    return a, b


@data_app.command("build")
def data_build(
    size: str = typer.Option(
        "tiny",
        "--size",
        help="tiny (tests, < 1 min), small (the book), full (training, hours) or real (recordings from Debian packages).",
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default data/generated/SIZE)."),
    seed: int = typer.Option(
        0, "--seed", min=0, help="Corpus seed: the same seed gives the same files, byte for byte."
    ),
    domains: str = typer.Option("speech,music,sfx", "--domains", help="Comma-separated subset of speech,music,sfx."),
) -> None:
    """Generate the deterministic synthetic corpus and its manifest (resumes after a kill)."""
    from tsrlib.data import corpus

    path = corpus.build(
        out or Path("data/generated") / size,
        size=size,
        seed=seed,
        domains=tuple(d.strip() for d in domains.split(",") if d.strip()),
    )
    _echo_json({"manifest": str(path)})


@data_app.command("index")
def data_index(
    folder: Path = typer.Argument(..., help="Folder of audio files (VCTK, MusicCaps, ESC-50, ...)."),
    domain: str = typer.Option(..., "--domain", help="speech, music or sfx."),
    out: Optional[Path] = typer.Option(None, "--out", help="Manifest to write (default FOLDER/manifest.csv)."),
) -> None:
    """Build a manifest (the synthetic corpus's columns) for a local folder of real recordings."""
    from tsrlib.data import manifest

    target = out or folder / "manifest.csv"
    df = manifest.index_folder(folder, domain, target)
    _echo_json(
        {
            "manifest": str(target),
            "clips": len(df),
            "skipped": len(df.attrs["skipped"]),
            "splits": df.split.value_counts().to_dict(),
        }
    )


@app.command()
def sweep(
    grid: Path = typer.Argument(..., help="Grid file (YAML): model, clips, cutoffs, verifiers and searches."),
    out: Path = typer.Option(..., "--out", help="The score bank's folder: created, or resumed where it stopped."),
    executor: str = typer.Option("local", "--executor", help="local (this process or a process pool) or ray."),
    address: Optional[str] = typer.Option(
        None, "--address", help="Ray: auto or HOST:PORT joins a running cluster (default: start a local one)."
    ),
    workers: int = typer.Option(1, "--workers", help="Worker processes (local) or actors (ray)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch threads per worker (default: cores/workers)."),
    compact: bool = typer.Option(False, "--compact", help="Merge the finished cells into one rows.parquet."),
    migrate: bool = typer.Option(
        False,
        "--migrate",
        help="The bank was made by earlier scoring code: rerun one cell of each search in each domain and, "
        "if every row comes out equal (floats to float32 rounding), carry the bank over to this code (then sweep on).",
    ),
) -> None:
    """Run a grid of searches into a score bank: one row per evaluated candidate, each cell stored as it finishes."""
    import time

    from tsrlib.sweep import Grid, migrate_bank, run_sweep

    g = Grid.from_yaml(grid)
    t0 = time.perf_counter()
    if migrate:
        migrate_bank(g, out)
    bank = run_sweep(g, out, executor=executor, workers=workers, threads=threads, address=address)
    if compact:
        bank.compact()
    _echo_json(
        {
            "out": str(out),
            "cells": len(bank),
            "rows": len(bank.frame()),
            "weights": bank.weights,
            "code": bank.code,
            "wall_seconds": round(time.perf_counter() - t0, 1),
        }
    )


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"notice: {message}", file=sys.stderr)


def _usage_errors() -> tuple[type[BaseException], ...]:
    """The exception classes of a command-line mistake (unknown option, missing argument, unparsable value): typer's
    own (newer typer vendors click) and click's (older typer raises those)."""
    found = [getattr(typer, "TyperException", None)]
    try:
        import click

        found.append(click.ClickException)
    except ImportError:  # newer typer does not need click
        pass
    return tuple(c for c in found if c is not None)


def main() -> None:
    """Console entry point: run the app; print tsrlib's errors (:class:`TsrError`) on one line and exit 2, and a
    command-line mistake as typer shows it (usage and the mistake, no traceback)."""
    warnings.showwarning = _one_line_warning
    try:
        # typer outside standalone mode returns an exit status instead of exiting: 130 after Ctrl-C, others from ctx.exit
        status = app(standalone_mode=False, prog_name="tsr")
    except TsrError as e:  # bad input on purpose; any other exception is a bug and keeps its traceback
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except _usage_errors() as e:
        if hasattr(e, "show"):
            e.show()
        else:  # pragma: no cover - a TyperException that is not a usage error
            print(f"error: {e.format_message()}", file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 2))
    except (typer.Abort, KeyboardInterrupt):
        status = 130
    except typer.Exit as e:
        sys.exit(e.exit_code)
    if status == 130:
        print("interrupted: what was finished is kept (tsr sweep resumes where it stopped)", file=sys.stderr)
    if isinstance(status, int) and status:
        sys.exit(status)


if __name__ == "__main__":
    main()
