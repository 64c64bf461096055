"""The training loop of the embedded model, diffusion (v-prediction) or regression (L2 on x0).

``tsr train`` calls :func:`train`. It is reproducible from a seed, checkpoints every ``ckpt_every``
steps (model, EMA, optimiser, sampler and RNG states; written atomically) and resumes from the last
checkpoint when run again with the same output folder, logs validation LSD to ``log.csv`` as it goes (one
sample, and the mean and oracle best of ``val_candidates`` beside blind band replication: :func:`validation_lsd`),
runs on CPU or CUDA, and exports the EMA weights as fp16 safetensors. ``init`` fine-tunes from existing
weights (new zero-initialised layers, such as ``global_context``'s, may be absent from them).

Plug-in points for the stage-adaptive mechanisms (a later chapter):

* ``timestep_sampler``: any object with ``sample(n, generator)`` and ``observe(t, losses)``
  (:mod:`tsrlib.train.timesteps`);
* ``extra_losses``: callables ``f(ctx) -> scalar tensor`` added to the loss, where ``ctx`` is a
  :class:`StepContext` holding the batch, the times, the network's output and its target, and the
  network's intermediate block features (``ctx.features``, a list of ``[N, hidden, L]``).

Diffusion mode minimises the error of the clean estimate (see :mod:`tsrlib.models.tiny`) in units of the
EDM loss scale ``c_out``, weighted towards the bins above each example's cutoff; regression mode the plain
squared error of its ``x0``.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tsrlib import metrics, sampler, schedule
from tsrlib.errors import ConfigError
from tsrlib.models.tiny import ModelConfig, TinySR, write_band_code
from tsrlib.train.data import Batch, SegmentSampler
from tsrlib.train.losses import band_weights, weighted_mse
from tsrlib.train.timesteps import UniformTimesteps


@dataclass
class TrainConfig:
    """How to train: the corpus, the run folder, the optimiser and the data augmentation. What is trained, the
    network (its size, mode, prior, band code, silence gate, envelope cap, code prior), is ``model``: one :class:`ModelConfig`, the same
    object the checkpoint stores, so no field is declared twice. :meth:`from_options` takes them flat."""

    manifest: str
    out: str
    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 6000
    batch: int = 16
    segment_seconds: float = 0.75
    lr: float = 1e-3
    warmup: int = 200
    ema: float = 0.999
    seed: int = 0
    val_every: int = 500
    ckpt_every: int = 250
    log_every: int = 50
    val_clips: int = 8  # validation clips, taken in turn from each domain and voice (see val_indices)
    val_candidates: int = 8  # candidates per validation input: their mean and best are logged beside band replication
    hf_gain_db: float = 4.0  # spread of the removed band's level in training targets (see train.data)
    hf_tilt_db: float = 0.0  # spread of its spectral tilt, dB per octave above the cutoff (see train.data)
    init: str = ""  # start from these weights (a shipped name or a .safetensors path) instead of at random
    code_source: str = "augment"  # band codes from the gain/tilt augmentation, or "measured" on the recordings
    calibration: int = 512  # examples whose measured offsets set the code quantiles (code_source="measured")
    code_rho: float = 1.0  # correlation of a measured code with the recording's offset (see tsrlib.train.data)
    device: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):  # read back from a provenance JSON or a checkpoint
            self.model = ModelConfig.from_dict(self.model)
        if self.model.band_code and self.model.mode != "diffusion":
            raise ConfigError("band_code needs mode='diffusion': the regression baseline has no noise to carry a code")
        if self.val_clips < 1 or self.val_candidates < 1:
            raise ConfigError(
                f"val_clips and val_candidates must be at least 1, got {self.val_clips}, {self.val_candidates}"
            )

    @property
    def val_n(self) -> int:
        """Candidates per validation input: ``val_candidates``, or 1 for the regression baseline (it has no noise)."""
        return self.val_candidates if self.model.mode == "diffusion" else 1

    @classmethod
    def from_options(cls, **options) -> TrainConfig:
        """Flat options, as ``tsr train`` takes them (``hidden=128, steps=6000, ...``): those naming a
        :class:`ModelConfig` field build ``model``, the rest this config."""
        model_keys = {f.name for f in fields(ModelConfig)}
        model = ModelConfig.from_dict({k: v for k, v in options.items() if k in model_keys})
        return cls(model=model, **{k: v for k, v in options.items() if k not in model_keys})

    def to_dict(self) -> dict:
        """JSON-ready, with ``model`` nested; ``TrainConfig(**d)`` rebuilds it."""
        return {
            **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()},
            "model": self.model.to_dict(),
        }


@dataclass
class StepContext:
    batch: Batch
    t: torch.Tensor
    pred: torch.Tensor
    target: torch.Tensor
    features: list[torch.Tensor] = field(default_factory=list)
    step: int = 0


def pick_device(name: str) -> torch.device:
    """The training device: ``auto``, ``cpu``, ``cuda`` ...; one this machine lacks is a ConfigError naming those it has."""
    from tsrlib.devices import resolve

    return resolve(name)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


VAL_CUTOFFS = (4000, 8000)


def val_columns(candidates: int) -> list[str]:
    """The validation columns of ``log.csv``: per cutoff ``val_lsd`` and ``val_lsd_hf`` (one sample), and with more
    than one candidate ``val_mean`` (their mean: one random draw's expected LSD), ``val_best`` (their oracle best) and
    ``val_br`` (blind band replication)."""
    kinds = ["lsd", "lsd_hf"] + (["mean", "best", "br"] if candidates > 1 else [])
    return [f"val_{kind}_{c // 1000}k" for c in VAL_CUTOFFS for kind in kinds]


def in_turn(keys: list) -> list[int]:
    """Indices of ``keys`` taken in turn from each key, keys in the order they first appear:
    ``["a", "a", "b", "c", "b"]`` -> ``[0, 2, 3, 1, 4]``."""
    per: dict = {}
    for i, k in enumerate(keys):
        per.setdefault(k, []).append(i)
    return [i for turn in itertools.zip_longest(*per.values()) for i in turn if i is not None]


def val_indices(domains: list[str], groups: list[str], n: int) -> list[int]:
    """Indices of ``n`` validation clips, taken in turn from each domain and, within a domain, in turn from each
    group (a source or a voice), so a few clips cover every domain and every voice alike."""
    per: dict = {}
    for i, d in enumerate(domains):
        per.setdefault(d, []).append(i)
    ordered = [[idx[j] for j in in_turn([groups[i] for i in idx])] for idx in per.values()]
    return [i for turn in itertools.zip_longest(*ordered) for i in turn if i is not None][:n]


def validation_lsd(model: TinySR, val: SegmentSampler, cfg: TrainConfig) -> dict[str, float]:
    """Validation at 4 and 8 kHz on ``cfg.val_clips`` clips of the val split (:func:`val_indices`, their first 3 s):
    the :func:`val_columns`, means over the clips in dB.

    ``val_lsd`` is one sample (candidate 0, DDIM 10 steps, eta 0). One sample on a few clips does not tell
    two models apart for search: a model can sample worse once yet reach a better best of N, and candidate 0 is one
    fixed noise, with one band code, for every clip of a length. So with ``cfg.val_candidates`` > 1 (a diffusion model)
    it also samples that many candidates and reports their mean (``val_mean``) and oracle best (``val_best``) beside the
    bar they must clear, blind band replication on the same inputs (``val_br``).
    """
    from tsrlib import audio as tsa
    from tsrlib.models import baselines

    n = cfg.val_n
    rows = []
    model.eval()
    for cutoff in VAL_CUTOFFS:
        for i in val_indices(val.domains, val.groups, cfg.val_clips):
            x = val.clips[i][: 3 * model.sr]
            lr = tsa.degrade(x, model.sr, cutoff, "cheby1")
            cond = model.condition(lr, model.sr, cutoff)
            ys = sampler.generate(model, cond, seed=0, indices=range(n), steps=10).audio
            lsd = metrics.lsd(x, ys)
            row = {"cutoff": cutoff, "lsd": lsd[0], "lsd_hf": metrics.lsd_hf(x, ys[0], model.sr, cutoff)[0]}
            if n > 1:
                row |= {
                    "mean": lsd.mean(),
                    "best": lsd.min(),
                    "br": metrics.lsd(x, baselines.band_replication(lr, model.sr, cutoff))[0],
                }
            rows.append(row)
    model.train()
    means = pd.DataFrame(rows).groupby("cutoff").mean()
    return {f"val_{kind}_{c // 1000}k": float(means.loc[c, kind]) for c in means.index for kind in means.columns}


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(
    cfg: TrainConfig,
    *,
    timestep_sampler=None,
    extra_losses: list[Callable[[StepContext], torch.Tensor]] | None = None,
    log: Callable[[str], None] = print,
) -> TinySR:
    """Train (or resume) and return the EMA model. Writes ``out/last.pt`` and ``out/log.csv``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    ts_sampler = timestep_sampler or UniformTimesteps()
    extra_losses = extra_losses or []

    mc = cfg.model
    model = TinySR(mc, name=mc.mode).to(device)
    ema = TinySR(mc, name=mc.mode).to(device)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    step = 0
    ckpt = out / "last.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        rng.bit_generator.state = state["numpy_rng"]
        gen.set_state(state["torch_rng"])
        ts_sampler.load_state_dict(state.get("timesteps", {}))
        step = state["step"]
        log(f"train: resumed from {ckpt} at step {step}")
    train_set = SegmentSampler(
        cfg.manifest,
        "train",
        segment_seconds=cfg.segment_seconds,
        sr=model.sr,
        hf_gain_db=cfg.hf_gain_db,
        hf_tilt_db=cfg.hf_tilt_db,
        band_code=mc.band_code,
        code_source=cfg.code_source,
        code_rho=cfg.code_rho,
    )
    if mc.band_code and cfg.code_source == "measured":  # the same table on a resume: its own seeded generator
        table = train_set.calibrate(cfg.calibration, np.random.default_rng([cfg.seed, 2]))
        log(
            f"train: band offsets from band replication, median gain {np.median(table[:, 0]):+.1f} dB, "
            f"tilt {np.median(table[:, 1]):+.1f} dB/oct (10-90 %: {np.percentile(table[:, 0], 10):+.1f} to "
            f"{np.percentile(table[:, 0], 90):+.1f} dB)"
        )
    val_set = SegmentSampler(cfg.manifest, "val", segment_seconds=cfg.segment_seconds, sr=model.sr)
    if step == 0 and cfg.init:  # fine-tuning: weights (and the preconditioning's data scale) from a model
        from tsrlib.models.tiny import load

        start = load(cfg.init, device)
        if (
            replace(
                start.cfg,
                global_context=model.cfg.global_context,
                band_code=model.cfg.band_code,
                prior_smoothing=model.cfg.prior_smoothing,
                silence_gate_db=model.cfg.silence_gate_db,
                envelope_cap_db=model.cfg.envelope_cap_db,
                code_prior=model.cfg.code_prior,
            )
            != model.cfg
        ):
            raise ConfigError(f"init {cfg.init}: its config {start.cfg} differs from this run's {model.cfg}")
        missing, unexpected = model.load_state_dict(start.state_dict(), strict=False)
        new_layers = (".glob.", "net.code.")  # zero-initialised, so they may be absent from the weights
        if unexpected or any(not any(n in k for n in new_layers) for k in missing):
            raise ConfigError(f"init {cfg.init}: weights do not fit ({missing + unexpected})")
        ema.load_state_dict(model.state_dict())
        log(f"train: initialised from {cfg.init}")
    elif step == 0:  # per-bin data scale for the preconditioning, measured once on training batches
        with torch.no_grad():
            z = torch.cat(
                [
                    model.codec.encode(train_set.batch(cfg.batch, np.random.default_rng(cfg.seed + 1)).hr.to(device))
                    for _ in range(8)
                ]
            )
            sd = z.transpose(0, 1).reshape(z.shape[1], -1).std(dim=1).clamp_min(0.01)
        model.net.sigma_data.copy_(sd)
        ema.net.sigma_data.copy_(sd)
    log(
        f"train: {len(train_set.clips)} train clips, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
        f"{mc.mode}, device {device}"
    )
    freqs = model.codec.bin_freqs().to(device)
    logfile = out / "log.csv"
    columns = ["step", "loss", "lr", "seconds", *val_columns(cfg.val_n)]
    if logfile.exists():  # a resumed run keeps the columns its log began with
        with logfile.open(newline="") as fh:
            columns = next(csv.reader(fh), columns)
    t0 = time.time()
    model.train()
    with logfile.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, columns, restval="", extrasaction="ignore")
        if fh.tell() == 0:
            writer.writeheader()
        running = []
        while step < cfg.steps:
            b = train_set.batch(cfg.batch, rng)
            hr, lr_audio, cutoff = b.hr.to(device), b.lr.to(device), b.cutoff.to(device)
            feats = model.features(lr_audio, cutoff)
            x0 = model.codec.encode(hr)
            w = band_weights(freqs, cutoff, bandwidth=b.bandwidth.to(device))
            if mc.mode == "regression":
                t = torch.zeros(cfg.batch, device=device)
                pred, _, blocks = model.regression_x0(feats["cond"], feats["mask"], return_features=True)
                target = x0
            else:
                # x0 error in units of the EDM loss scale c_out, so every noise level weighs alike
                t = ts_sampler.sample(cfg.batch, gen).to(device)
                noise = torch.randn(x0.shape, generator=gen).to(device)
                if mc.band_code:
                    noise = write_band_code(noise, feats["mask"], b.code.to(device))
                x_t = schedule.add_noise(x0, noise, t)
                pre = model.preconditioning(t, device)
                c_out = pre[-1]
                x0_hat, _, blocks = model.predict_x0(
                    x_t, t, feats["cond"], feats["mask"], return_features=True, pre=pre
                )
                pred, target = x0_hat / c_out, x0 / c_out
            per_example = weighted_mse(pred, target, w)
            loss = per_example.mean()
            ctx = StepContext(b, t, pred, target, blocks, step)
            for f in extra_losses:
                loss = loss + f(ctx)
            ts_sampler.observe(t.detach().cpu(), per_example.detach().cpu())
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                decay = min(cfg.ema, (1 + step) / (10 + step))  # EMA warm-up: early averages forget the init
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1 - decay)
            step += 1
            running.append(float(loss.detach()))
            val = {}
            if step % cfg.val_every == 0 or step == cfg.steps:
                val = validation_lsd(ema, val_set, cfg)
            if step % cfg.log_every == 0 or val:
                writer.writerow(
                    {
                        "step": step,
                        "loss": np.mean(running),
                        "lr": lr_at(step, cfg),
                        "seconds": round(time.time() - t0, 1),
                        **val,
                    }
                )
                fh.flush()
                log(
                    f"train: step {step} loss {np.mean(running):.4f} {' '.join(f'{k} {v:.3f}' for k, v in val.items())}"
                )
                running = []
            if step % cfg.ckpt_every == 0 or step == cfg.steps:
                _save_atomic(
                    {
                        "model": model.state_dict(),
                        "ema": ema.state_dict(),
                        "opt": opt.state_dict(),
                        "step": step,
                        "numpy_rng": rng.bit_generator.state,
                        "torch_rng": gen.get_state(),
                        "timesteps": ts_sampler.state_dict(),
                        "config": cfg.to_dict(),
                    },
                    ckpt,
                )
    return ema.eval()


def export_with_provenance(model: TinySR, cfg: TrainConfig, path: str | Path, command: str) -> Path:
    """Save ``model`` (fp16 safetensors) and, beside it, ``NAME.json`` (how it was made) and ``NAME.log.csv``.

    The JSON holds the command, the config, the training wall time and the hardware, so the book can say
    how long the shipped weights took and where. A fine-tune (``cfg.init`` a file exported this way) carries
    its starting point's story along: the JSON nests the init's JSON under ``"init"`` and counts its wall time
    in ``train_seconds`` (this run alone: ``run_seconds``), and the log starts with the init's rows. The log's
    ``stage`` column names the file each row's run was exported to; its steps continue across stages.
    """
    import platform

    p = model.save(path)
    log = pd.read_csv(Path(cfg.out) / "log.csv").assign(stage=p.stem)
    from tsrlib.models.tiny import weights_path

    init = weights_path(cfg.init).with_suffix(".json") if cfg.init else None  # a shipped name or a path
    init_info = json.loads(init.read_text()) if init is not None and init.is_file() else None
    if init_info is not None and init.with_suffix(".log.csv").is_file():
        before = pd.read_csv(init.with_suffix(".log.csv"))
        if "stage" not in before:
            before = before.assign(stage=init.stem)
        log = pd.concat([before, log.assign(step=log.step + before.step.max())], ignore_index=True)
    log.to_csv(p.with_suffix(".log.csv"), index=False)
    device = pick_device(cfg.device)
    hardware = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    )
    own = log[log.stage == p.stem]
    val = own.dropna(subset=["val_lsd_4k"]).iloc[-1].to_dict() if own["val_lsd_4k"].notna().any() else {}
    run_seconds = float(own.seconds.max())
    info = {
        "command": command,
        "config": cfg.to_dict(),
        "train_seconds": run_seconds + (init_info["train_seconds"] if init_info else 0.0),
        "run_seconds": run_seconds,
        "hardware": hardware,
        "torch": torch.__version__,
        "parameters": sum(q.numel() for q in model.parameters()),
        "checkpoint_bytes": p.stat().st_size,
        "final_validation": {k: v for k, v in val.items() if k.startswith("val")},
    }
    if init_info is not None:
        info["init"] = init_info
    p.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return p
