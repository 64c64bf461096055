"""What every benchmark shares: a label for the hardware it ran on, and its measurements as JSON lines.

Each script takes ``--json PATH`` (``auto``: ``bench/results/<hardware>.jsonl``) and appends one line per measured
quantity: bench, metric, value, unit, hardware, torch version, date and the settings it ran with. The performance
appendix (``book/appendix-performance``) reads them; every ratio in a line was measured in one run of one script.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def hardware(device: torch.device | str | None = None) -> str:
    """``"NVIDIA H100 80GB HBM3"`` on a GPU, else ``"CPU x86_64, 2 cores"`` (the cores this process may use)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU {platform.processor() or platform.machine()}, {cores} cores"


class Record:
    """Measurements of one run of one benchmark, appended to ``path`` by :meth:`write` (nothing when ``path`` is None);
    each write appends the rows measured since the last, so a benchmark may write as it goes."""

    def __init__(self, bench: str, path: str | None, device: torch.device | str | None = None, **settings):
        self.bench, self.hw, self.settings, self.rows = bench, hardware(device), settings, []
        # the run's one date, on every row it writes: bench_records reads a run as the rows of one date
        self.date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        if path == "auto":
            path = RESULTS / (re.sub(r"[^a-z0-9]+", "-", self.hw.lower()).strip("-") + ".jsonl")
        self.path = Path(path) if path else None

    def __call__(self, metric: str, value: float, unit: str, **extra) -> None:
        self.rows.append({"metric": metric, "value": float(value), "unit": unit, **extra})

    def write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        common = {"bench": self.bench, "hardware": self.hw, "torch": torch.__version__, "date": self.date}
        with self.path.open("a") as f:
            for r in self.rows:
                f.write(json.dumps(common | r | {"settings": self.settings}) + "\n")
        print(f"wrote {len(self.rows)} measurements to {self.path}")
        self.rows = []


def add_json_option(ap) -> None:
    ap.add_argument("--json", default=None, help="append the measurements to this JSON-lines file (auto: by hardware)")


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of ``fn()``, with CUDA work finished before and after it is timed."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t
