"""The paper's claims, decided from a score bank: prints Markdown tables with 95 % intervals across clips.

    .venv/bin/python tools/bank_report.py data/banks/book

Tables: the bank's coverage; each search against random search at matched NFE (ΔLSD of the choice); best-of-N by the
guide against N = 1 (where returns diminish); which verifiers a best-of-64 pick hacks (the pick is worse than the mean
candidate on LSD); the bars against blind band replication, at N = 64 and at the real-audio issue's N = 16. See
:func:`tsrlib.experiments.bank_claims`.
"""

from __future__ import annotations

import argparse

import pandas as pd

from tsrlib import experiments as ex
from tsrlib.bank import ScoreBank


def md(df: pd.DataFrame, **kw) -> str:
    """Markdown with counts as integers and other numbers signed to 3 decimals."""
    counts = ["cutoff", "N", "clips", "inputs", "nfe", "candidates"]
    # as text: tabulate would print an all-number table's integers with the float format
    df = df.astype({c: int for c in counts if c in df and df[c].notna().all()}).astype(
        {c: str for c in counts if c in df}
    )
    return df.to_markdown(floatfmt="+.3f", **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bank", help="the bank's folder (tsr sweep --out)")
    ap.add_argument("--verifiers", default="mbr,dnsmos,wer,spksim,continuity,consensus,spksim-ref")
    ap.add_argument("--unchecked", action="store_true", help="skip the weights and code check (a stale bank)")
    a = ap.parse_args()
    bank = ScoreBank(a.bank) if a.unchecked else ex.open_bank(a.bank)
    rows = bank.frame()
    cells = rows.drop_duplicates("cell")
    print(f"## {a.bank}: {len(cells)} cells, {len(rows)} rows, weights {bank.weights}, code {bank.code}\n")
    cover = cells.groupby(["domain", "search"]).clip_sha.nunique().unstack("search")
    print(cover.to_markdown() + "\n")
    print(f"cell wall time: {cells.wall_seconds.sum() / 3600:.2f} h in all\n")
    claims = ex.bank_claims(rows, a.verifiers.split(","))
    s = claims["searchers"]
    cols = ["cutoff", "searcher", "clips", "nfe", "candidates", "verifier", "LSD", "d_lsd", "d_lsd_lo", "d_lsd_hi"]
    print("### Searches against random search at matched NFE (ΔLSD of the choice, lower favours the search)\n")
    print(md(s[cols], index=False) + "\n")
    r = claims["returns"]
    print(f"### Best-of-N by {r.selector.iloc[0]} against N = 1 (ΔLSD; share: of the gain at the largest N)\n")
    print(md(r.drop(columns="selector"), index=False) + "\n")
    h = claims["hacking"]
    cols = [
        "cutoff",
        "verifier",
        "inputs",
        "spearman",
        "spearman_lo",
        "spearman_hi",
        "pick_gain",
        "pick_gain_lo",
        "pick_gain_hi",
        "hacked",
        "helps",
    ]
    print("### Verifiers: best-of-64 pick against the mean candidate (pick_gain in LSD dB, lower is better)\n")
    print(md(h[cols], index=False) + "\n")
    b = claims["bars"]
    cols = [
        "domain",
        "cutoff",
        "clips",
        "bar",
        "one",
        "mean",
        "best",
        "best_minus_bar",
        "best_minus_bar_lo",
        "best_minus_bar_hi",
    ]
    print("### Against blind band replication (LSD dB)\n")
    print(md(b[cols], index=False) + "\n")
    b16 = ex.search_bars(ex.bank_candidates(rows), ex.bank_baselines(rows), n=16)
    cols = ["domain", "cutoff", "clips", "bar", "one", "one_minus_bar_lo", "one_minus_bar_hi", "mean", "best"]
    print(
        "### The real-audio bars at N = 16: one sample and the oracle best of the first 16 candidates against band "
        "replication (best_vs_bar: 1 - best / bar), and the search headroom (1 - best / mean)\n"
    )
    print(md(b16[[*cols, "best_vs_bar", "headroom"]], index=False) + "\n")
    per_domain = ex.bank_choices(rows).merge(
        ex.bank_baselines(rows)[["clip", "cutoff", "method", "LSD"]].pivot_table(
            index=["clip", "cutoff"], columns="method", values="LSD"
        ),
        on=["clip", "cutoff"],
    )
    print("### Mean LSD of each search's choice and each baseline, by domain and cutoff\n")
    table = per_domain.pivot_table(index=["domain", "cutoff"], columns="searcher", values="LSD")
    methods = [m for m in ex.BANK_METHODS.values() if m in per_domain]
    base = per_domain.groupby(["domain", "cutoff"])[methods].mean()
    print(pd.concat([table, base], axis=1).to_markdown(floatfmt=".3f") + "\n")


if __name__ == "__main__":
    main()
