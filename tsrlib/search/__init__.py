"""Inference-time search over the sampler's noise, guided by verifiers, with budgets in NFE.

=====================  ==============================================================  =========================
searcher               what it does                                                    NFE (DDIM, S steps)
=====================  ==============================================================  =========================
:class:`RandomSearch`  best of ``n`` independent noises (the paper's default)           ``n S``
:class:`ZeroOrderSearch`  ``rounds`` of ``n`` neighbours around a pivot noise            ``S (1 + rounds n)``
:class:`SearchOverPaths`  ``n`` paths, branched ``m``-fold by ``delta_f`` / ``delta_b``   ``n (first + K m delta_b)``
:class:`EarlyRejection`  ``n`` noises to level ``L``, finish the ``keep`` best previews      ``n L + keep (S - L)``
=====================  ==============================================================  =========================

``searcher.run(model, lr_audio, verifier, budget, seed) -> SearchResult``; see :mod:`tsrlib.search.base`.
"""

from __future__ import annotations

import inspect

from tsrlib.errors import ConfigError, TsrError
from tsrlib.search.base import MAX_SEARCH_SECONDS, Run, Searcher
from tsrlib.search.cache import CandidateCache
from tsrlib.search.paths import SearchOverPaths
from tsrlib.search.random_search import RandomSearch
from tsrlib.search.rejection import EarlyRejection
from tsrlib.search.result import Candidate, SearchResult
from tsrlib.search.zero_order import ZeroOrderSearch

SEARCHERS: dict[str, type[Searcher]] = {
    "random": RandomSearch,
    "zero-order": ZeroOrderSearch,
    "paths": SearchOverPaths,
    "rejection": EarlyRejection,
}


def make_searcher(name: str, **kw) -> Searcher:
    """A searcher by name (``random``, ``zero-order``, ``paths``, ``rejection``; ``none`` is random search with
    ``n = 1``)."""
    if name == "none":
        kw["n"] = 1
        name = "random"
    if name not in SEARCHERS:
        raise TsrError(f"unknown search {name!r}; choose one of none, {', '.join(SEARCHERS)}")
    takes = {
        p.name
        for f in (SEARCHERS[name].__init__, Searcher.__init__)
        for p in inspect.signature(f).parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self"
    }
    if unknown := sorted(set(kw) - takes):
        raise ConfigError(f"{name} search takes no {unknown[0]!r}; it takes {', '.join(sorted(takes))}")
    return SEARCHERS[name](**kw)


__all__ = [
    "MAX_SEARCH_SECONDS",
    "Candidate",
    "CandidateCache",
    "EarlyRejection",
    "RandomSearch",
    "Run",
    "SEARCHERS",
    "SearchOverPaths",
    "SearchResult",
    "Searcher",
    "ZeroOrderSearch",
    "make_searcher",
]
