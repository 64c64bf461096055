"""Optional dependencies in tests: skipped where they are absent, required in CI.

`bash tools/run test` installs the test extras (transformers, audiobox-aesthetics, espeak-ng), so in CI (``CI=true``)
a failed import is a broken install and must fail the run, not turn into a skip that leaves CI green.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(module: str) -> ModuleType:
    """Import ``module``; outside CI, skip the test when it is missing; in CI, fail with the import error."""
    if in_ci():
        try:
            return importlib.import_module(module)
        except ImportError as e:
            pytest.fail(f"CI installs {module} with the test extras, but importing it failed: {e}")
    return pytest.importorskip(module)


def skip_unless(available: bool, reason: str) -> None:
    """Skip when ``available`` is false, except in CI, where the set-up installs it: fail there instead."""
    if not available:
        if in_ci():
            pytest.fail(f"{reason} (CI installs it: the set-up is broken)")
        pytest.skip(reason)
