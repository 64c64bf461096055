"""Words for the prose: verdicts on both sides of their threshold, and no glued "nan"."""

import numpy as np
import pytest

from tsrlib import prose


@pytest.mark.parametrize(
    "low,high,expected",
    [
        (-0.3, -0.01, "better than"),
        (0.01, 0.2, "worse than"),
        (-0.1, 0.1, "not distinguishable from"),
        (0.0, 0.2, "not distinguishable from"),
        (np.nan, np.nan, "not distinguishable from"),
    ],
)
def test_verdict_branches_at_zero(low, high, expected):
    assert prose.verdict(low, high) == expected


def test_verdict_of_one_number_reads_lower_beats():
    words = dict(below="beats", above="does not beat", between="does not beat")
    assert [prose.verdict(d, **words) for d in (-1e-9, 0.0, 1e-9)] == ["beats", "does not beat", "does not beat"]


def test_glued_text_is_never_nan():
    assert prose.number_text(0.1234) == "+0.12" and prose.number_text(np.nan) == "undefined"
    assert prose.ci_text(-0.12, 0.04, 5) == "95 % CI -0.120 to +0.040"
    assert prose.ci_text(np.nan, np.nan, 1) == "no confidence interval from 1 clip"


def test_claim_text_reads_reproduce_contradict_or_undecided():
    said = {"4k": "worse than", "8k": "better than"}
    claim = "the paper's pattern"
    assert prose.claim_text(dict(said), said, claim) == "this run reproduces the paper's pattern"
    undecided = {"4k": "worse than", "8k": "not distinguishable from"}
    assert prose.claim_text(undecided, said, claim).endswith("can neither confirm nor reject")
    assert prose.claim_text({"4k": "better than", "8k": "better than"}, said, claim).startswith("this run contradicts")


def test_clip_counts_names_each_domains_distinct_clips():
    import pandas as pd

    from tsrlib import experiments as ex

    rows = pd.DataFrame({"domain": ["speech", "speech", "music", "speech"], "clip": ["a", "a", "m", "b"]})
    assert ex.clip_counts(rows) == "1 music, 2 speech"
