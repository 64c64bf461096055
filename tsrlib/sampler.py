"""Samplers: one plain function per solver (k-diffusion style); the caller owns the randomness.

Every search draws N candidates. They run as one batch per step, which is the main speed lever on a
GPU, but **candidate k of a run with seed s never depends on the batch it runs in**: its initial
noise and its per-step noise (DDIM with eta > 0) come from its own generator, keyed by (s, k)
(:class:`CandidateNoise`). A candidate sampled alone matches the same candidate sampled in a batch.

Both solvers can start from an intermediate level (``x`` is then ``x_t`` at ``ts[start]``) and stop at
one (``stop``), which search over paths needs; both can return the x0-prediction of every step, and
both count NFE: network evaluations per candidate (a batch of N candidates for S steps is N x S).

Time runs on the continuous grid of :func:`tsrlib.schedule.timesteps`; the model predicts v.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from tsrlib import schedule
from tsrlib.errors import ConfigError
from tsrlib.models.protocol import Condition, SRDiffusionModel


def candidate_seed(seed: int, k: int) -> int:
    """The 63-bit seed of candidate ``k`` in a run with ``seed``: ``SeedSequence([seed, k])``."""
    if int(seed) < 0 or int(k) < 0:
        raise ConfigError(f"seeds and candidate indices are non-negative integers, got seed {seed}, candidate {k}")
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


class CandidateNoise:
    """One CPU ``torch.Generator`` per candidate, keyed by ``(seed, k)`` for ``k`` in ``indices``.

    :meth:`initial` draws each candidate's ``x_T``; :meth:`step` each candidate's next Gaussian draw.
    Draws are made on the CPU in float32 and moved to ``device``, so results do not depend on the device.
    """

    def __init__(self, seed: int, indices: Sequence[int], device: torch.device | str = "cpu"):
        self.seed, self.indices, self.device = int(seed), list(indices), torch.device(device)
        self.gens = [torch.Generator().manual_seed(candidate_seed(seed, k)) for k in self.indices]

    def __len__(self) -> int:
        return len(self.gens)

    def draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.stack([torch.randn(shape, generator=g) for g in self.gens]).to(self.device)

    initial = draw
    step = draw

    @classmethod
    def from_generators(
        cls,
        seed: int,
        gens: Sequence[torch.Generator],
        device: torch.device | str = "cpu",
        indices: Sequence[int] | None = None,
    ) -> CandidateNoise:
        """Rows backed by existing generators (shared state): search over paths continues parents' noise."""
        out = cls.__new__(cls)
        out.seed, out.device, out.gens = int(seed), torch.device(device), list(gens)
        out.indices = list(indices) if indices is not None else list(range(len(out.gens)))
        return out

    def subset(self, rows: Sequence[int]) -> CandidateNoise:
        """The same generators (shared state) for a subset of the rows, in that order."""
        return CandidateNoise.from_generators(
            self.seed, [self.gens[r] for r in rows], self.device, [self.indices[r] for r in rows]
        )


def initial_noise(model: SRDiffusionModel, cond: Condition, noise: CandidateNoise) -> torch.Tensor:
    """Each candidate's starting noise ``x_T [len(noise), *model.noise_shape(cond)]``: drawn from its own generator,
    then passed through the model's ``initial_noise(x_T, cond)`` hook when it has one (a prior on the band code,
    :meth:`tsrlib.models.tiny.TinySR.initial_noise`). Every search draws its starting noises here."""
    x_T = noise.initial(model.noise_shape(cond))
    hook = getattr(model, "initial_noise", None)
    return x_T if hook is None else hook(x_T, cond)


@dataclass
class SampleOutput:
    """``x``: the final ``x_0`` (or ``x_t`` at ``ts[stop]`` when stopped early), ``[N, ...]``.

    ``x0``: the last x0-prediction; ``nfe``: network evaluations per candidate, summed over candidates;
    ``x0_trajectory``: the x0-prediction after each step (when asked for); ``stop``: index into ``ts``.
    """

    x: torch.Tensor
    x0: torch.Tensor
    nfe: int
    stop: int
    x0_trajectory: list[torch.Tensor] = field(default_factory=list)


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _alpha_sigma(t: float) -> tuple[float, float]:
    a, s = schedule.alpha_sigma(torch.tensor(t, dtype=torch.float64))
    return float(a), float(s)


def _predict(model: SRDiffusionModel, x: torch.Tensor, t: float, cond: Condition, guidance: float, amp: bool):
    tt = torch.full((x.shape[0],), float(t), device=x.device)
    with _autocast(x.device, amp):
        v, evals = model.denoise(x, tt, cond, guidance)
    x0, eps = schedule.x0_eps_from_v(x, v.float(), t)
    return x0, eps, evals * x.shape[0]


@torch.no_grad()
def sample_ddim(
    model: SRDiffusionModel,
    cond: Condition,
    x: torch.Tensor,
    ts: torch.Tensor,
    *,
    eta: float = 0.0,
    noise: CandidateNoise | None = None,
    start: int = 0,
    stop: int | None = None,
    guidance_scale: float = 1.0,
    return_x0s: bool = False,
    amp: bool = True,
    callback: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
) -> SampleOutput:
    """DDIM (Song et al. 2021, eq. 12) from ``x`` at ``ts[start]`` down to ``ts[stop]`` (default: the end).

    ``eta = 0`` follows the deterministic probability-flow path; ``eta = 1`` is ancestral (DDPM-like)
    sampling, AudioSR's default. With ``eta > 0`` the fresh noise comes from ``noise``, which is
    required then. ``callback(i, x, x0)`` runs after each step.
    """
    stop = len(ts) - 1 if stop is None else stop
    if not eta >= 0:
        raise ConfigError(f"eta must be at least 0 (0: deterministic DDIM, 1: ancestral), got {eta}")
    if eta > 0 and noise is None:
        raise ValueError("eta > 0 needs a CandidateNoise so each candidate's noise is reproducible")
    nfe, traj = 0, []
    x0 = x
    for i in range(start, stop):
        t, t_next = float(ts[i]), float(ts[i + 1])
        (a_t, s_t), (a_n, s_n) = _alpha_sigma(t), _alpha_sigma(t_next)
        x0, eps, n = _predict(model, x, t, cond, guidance_scale, amp)
        nfe += n
        if t_next <= 0:
            x = x0
        else:
            sig = eta * (s_n / s_t) * max(1 - (a_t / a_n) ** 2, 0.0) ** 0.5 if eta > 0 else 0.0
            x = a_n * x0 + max(s_n**2 - sig**2, 0.0) ** 0.5 * eps
            if sig > 0:
                x = x + sig * noise.step(tuple(x.shape[1:]))
        if return_x0s:
            traj.append(x0)
        if callback is not None:
            callback(i, x, x0)
    return SampleOutput(x=x, x0=x0, nfe=nfe, stop=stop, x0_trajectory=traj)


@torch.no_grad()
def sample_heun(
    model: SRDiffusionModel,
    cond: Condition,
    x: torch.Tensor,
    ts: torch.Tensor,
    *,
    start: int = 0,
    stop: int | None = None,
    guidance_scale: float = 1.0,
    return_x0s: bool = False,
    amp: bool = True,
    callback: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
    **_: object,
) -> SampleOutput:
    """Heun's second-order solver of the probability-flow ODE (Karras et al. 2022, Algorithm 1).

    Works in ``y = x / alpha`` against ``s = sigma / alpha``, where the ODE is ``dy/ds = eps``; two
    evaluations per step except the last, which is an Euler step to ``s = 0``. Deterministic.
    """
    stop = len(ts) - 1 if stop is None else stop
    nfe, traj = 0, []
    x0 = x
    for i in range(start, stop):
        t, t_next = float(ts[i]), float(ts[i + 1])
        (a_t, s_t), (a_n, s_n) = _alpha_sigma(t), _alpha_sigma(t_next)
        x0, eps, n = _predict(model, x, t, cond, guidance_scale, amp)
        nfe += n
        y, ds = x / a_t, s_n / a_n - s_t / a_t
        y_next = y + ds * eps
        if t_next > 0:
            x0_2, eps2, n = _predict(model, a_n * y_next, t_next, cond, guidance_scale, amp)
            nfe += n
            y_next = y + ds * 0.5 * (eps + eps2)
            x0 = x0_2
        x = a_n * y_next if t_next > 0 else x0
        if return_x0s:
            traj.append(x0)
        if callback is not None:
            callback(i, x, x0)
    return SampleOutput(x=x, x0=x0, nfe=nfe, stop=stop, x0_trajectory=traj)


SOLVERS: dict[str, Callable[..., SampleOutput]] = {"ddim": sample_ddim, "heun": sample_heun}


@dataclass
class Candidates:
    """N super-resolved candidates of one input: ``audio [N, T]`` at ``sr``, their seeds and the NFE spent."""

    audio: np.ndarray
    sr: int
    seed: int
    indices: list[int]
    nfe: int
    x0: torch.Tensor | None = None


def generate(
    model: SRDiffusionModel,
    cond: Condition,
    seed: int,
    indices: Sequence[int] = (0,),
    *,
    steps: int = 25,
    eta: float = 0.0,
    solver: str = "ddim",
    batch_size: int = 16,
    guidance_scale: float = 1.0,
    amp: bool = True,
) -> Candidates:
    """Sample candidates ``indices`` of a run with ``seed`` for ``cond``, ``batch_size`` at a time.

    The regression baseline (``model.is_regression``) has no noise: every index gives its one output
    with one evaluation. Returns audio ``[len(indices), T]``.
    """
    if solver not in SOLVERS:
        raise ConfigError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    device = device_of(cond)
    outs, x0s, nfe = [], [], 0
    indices = list(indices)
    for b in range(0, len(indices), batch_size):
        chunk = indices[b : b + batch_size]
        if getattr(model, "is_regression", False):
            with torch.no_grad():
                x0 = model.regress(cond, len(chunk))
            nfe += len(chunk)
        else:
            noise = CandidateNoise(seed, chunk, device)
            x0, n = sample_from(
                model,
                cond,
                initial_noise(model, cond, noise),
                noise,
                steps=steps,
                eta=eta,
                solver=solver,
                guidance_scale=guidance_scale,
                amp=amp,
            )
            nfe += n
        x0s.append(x0)
        outs.append(model.decode(x0, cond))
    return Candidates(audio=np.concatenate(outs), sr=model.sr, seed=seed, indices=indices, nfe=nfe, x0=torch.cat(x0s))


def device_of(cond: Condition) -> torch.device:
    """The device a condition's tensors live on (CPU when it has none)."""
    return cond.features["cond"].device if cond.features else torch.device("cpu")


def sample_from(
    model: SRDiffusionModel,
    cond: Condition,
    x_T: torch.Tensor,
    noise: CandidateNoise | None,
    *,
    steps: int = 25,
    eta: float = 0.0,
    solver: str = "ddim",
    guidance_scale: float = 1.0,
    amp: bool = True,
) -> tuple[torch.Tensor, int]:
    """Run ``solver`` from given initial noises ``x_T [N, ...]`` to ``x_0``; returns ``(x_0 [N, ...], NFE)``.

    Searchers that build their own noises (zero-order neighbours) call this; ``noise`` supplies the
    per-step draws when ``eta > 0``.
    """
    if solver not in SOLVERS:
        raise ConfigError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    out = SOLVERS[solver](
        model,
        cond,
        x_T.to(device_of(cond)),
        schedule.timesteps(steps),
        eta=eta,
        noise=noise,
        guidance_scale=guidance_scale,
        amp=amp,
    )
    return out.x, out.nfe


def nfe_per_sample(steps: int, solver: str = "ddim", evals_per_call: int = 1) -> int:
    """Network evaluations one candidate costs: ``steps`` for DDIM, ``2 steps - 1`` for Heun, times the
    evaluations per denoiser call (2 for classifier-free guidance run unbatched)."""
    return (steps if solver == "ddim" else 2 * steps - 1) * evals_per_call
