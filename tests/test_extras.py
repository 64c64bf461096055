"""The optional-dependency helper: a missing extra skips on a developer's machine and fails in CI."""

import pytest

from tests.extras import require, skip_unless


def test_a_missing_extra_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require("tsr_no_such_module")
    with pytest.raises(pytest.skip.Exception):
        skip_unless(False, "espeak-ng is not installed")
    monkeypatch.setenv("CI", "true")
    for call, message in (
        (lambda: require("tsr_no_such_module"), "CI installs tsr_no_such_module"),
        (lambda: skip_unless(False, "espeak-ng is not installed"), "set-up is broken"),
    ):
        with pytest.raises(BaseException) as outcome:  # any outcome, so that a skip here fails this test, not skips it
            call()
        assert outcome.type is pytest.fail.Exception and message in str(outcome.value)
    assert require("json").__name__ == "json"
    skip_unless(True, "never said")
