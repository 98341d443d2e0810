"""The statistics every result table shares: intervals over essays, rates, ranks with ties, pooled spread.

Pure functions of arrays and frames, no I/O. Deterministic: every random draw comes from a generator
seeded with ``SEED`` and the values that name what is resampled (a group's key), so a figure does not
change when another group is added, the same data always give the same interval, and one group
shown in two tables (``score_summary`` and ``final_results``) has the same interval in both.

- ``cluster_mean_intervals``: the mean of a group's scores with a 95 % percentile interval from a
  cluster bootstrap over essays (``scipy.stats.bootstrap``): an essay's evaluations are resampled
  together, because two graders scoring one essay are not two independent observations. ``n`` is
  the number of essays.
- ``proportion_interval``: a rate's 95 % Wilson score interval (``scipy.stats.binomtest``).
- ``competition_ranks``: ranks where equal values share the best rank and are marked ``1=``.
- ``pooled_sd``: the within-group standard deviation pooled over groups (a one-way ANOVA's within
  mean square, square-rooted).
- ``rounded_table``: rows as a table whose figures are rounded as the CSV shows them.
"""

from __future__ import annotations

import hashlib
import warnings
import zlib
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

SEED = 20_251_119
CONFIDENCE = 0.95
# Resamples for the grouped-mean intervals. Percentile endpoints from 1,000 resamples move by
# about a tenth of a standard error between seeds (Efron & Tibshirani 1993, ch. 19), well below
# the 2-decimal precision of the tables; 2,000 doubled the tables' time at 100,000 evaluations.
GROUP_MEAN_RESAMPLES = 1_000
# Resampled values held in memory at once (scipy's ``batch``): bounds memory at ~50 MB per call.
BOOTSTRAP_BATCH_VALUES = 3_000_000
# Intervals already computed, by (label, group key, resamples, data digest): score_summary and
# scores_by_combination resample the same groups as final_results, with the same seeds, so the
# answer is the same and need not be drawn again (a fifth of the tables' time at 100,000 evaluations).
_INTERVALS: dict[tuple[Any, ...], tuple[float, float]] = {}
_INTERVALS_KEPT = 20_000
MEAN_INTERVAL_METHOD = "cluster bootstrap over essays, percentile, 1000 resamples (scipy.stats.bootstrap)"
RATE_INTERVAL_METHOD = "Wilson score interval (scipy.stats.binomtest)"


def rng_for(*labels: Hashable) -> np.random.Generator:
    """A generator seeded by ``SEED`` and the labels (e.g. the table and the group's key)."""
    digest = zlib.crc32(repr(labels).encode("utf-8"))
    return np.random.default_rng([SEED, digest])


def batch_for(n: int) -> int:
    """Resamples per batch so that one batch holds at most ``BOOTSTRAP_BATCH_VALUES`` values."""
    return max(1, BOOTSTRAP_BATCH_VALUES // max(n, 1))


def _ratio_of_sums(sums: np.ndarray, counts: np.ndarray, axis: int = -1) -> np.ndarray:
    """The mean of every score of the resampled essays: their score sum over their score count."""
    return np.asarray(np.sum(sums, axis=axis) / np.sum(counts, axis=axis))


def cluster_mean_interval(
    sums: np.ndarray, counts: np.ndarray, *, rng: np.random.Generator, resamples: int = GROUP_MEAN_RESAMPLES
) -> tuple[float, float]:
    """95 % percentile interval of ``sum(sums) / sum(counts)``, resampling clusters (essays) whole.

    ``sums[i]`` and ``counts[i]`` are the total and the number of scores of essay ``i``. Fewer than
    two essays give no interval (NaN, NaN).
    """
    sums = np.asarray(sums, dtype=float)
    counts = np.asarray(counts, dtype=float)
    if len(sums) < 2:
        return (float("nan"), float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # identical values: a degenerate, but correct, interval
        result = scipy_stats.bootstrap(
            (sums, counts), _ratio_of_sums, paired=True, vectorized=True, method="percentile",
            n_resamples=resamples, batch=batch_for(len(sums)), confidence_level=CONFIDENCE, random_state=rng,
        )
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def cluster_mean_intervals(
    frame: pd.DataFrame,
    keys: Sequence[str],
    *,
    label: str = "mean",
    value: str = "score",
    cluster: str = "essay_gen_id",
    resamples: int = GROUP_MEAN_RESAMPLES,
) -> pd.DataFrame:
    """Per group of ``keys``: ``n_essays`` (distinct clusters with a value) and the 95 % interval
    of the group's mean value, by cluster bootstrap. The draws are seeded by ``label`` and the
    group's key values.

    Rows without a value are ignored. With no keys the whole frame is one group.
    """
    columns = [*keys, "n_essays", "ci_low", "ci_high"]
    valued = frame[frame[value].notna()]
    if valued.empty:
        return pd.DataFrame(columns=columns)
    group_keys = list(keys)
    work = pd.DataFrame({k: valued[k].fillna("") for k in group_keys})
    work["_cluster"] = valued[cluster].astype(str)
    work["_value"] = valued[value].astype(float)
    per_cluster = work.groupby([*group_keys, "_cluster"], sort=True)["_value"].agg(["sum", "count"]).reset_index()
    rows: list[dict[str, Any]] = []
    grouped = per_cluster.groupby(group_keys, sort=True) if group_keys else [((), per_cluster)]
    for key, part in grouped:
        key_tuple = key if isinstance(key, tuple) else (key,)
        sums, counts = part["sum"].to_numpy(dtype=float), part["count"].to_numpy(dtype=float)
        digest = hashlib.blake2b(sums.tobytes() + counts.tobytes(), digest_size=16).digest()
        memo_key = (label, key_tuple, resamples, digest)
        if memo_key not in _INTERVALS:
            if len(_INTERVALS) >= _INTERVALS_KEPT:
                _INTERVALS.clear()
            _INTERVALS[memo_key] = cluster_mean_interval(
                sums, counts, rng=rng_for(label, *key_tuple), resamples=resamples
            )
        low, high = _INTERVALS[memo_key]
        rows.append({**dict(zip(group_keys, key_tuple, strict=True)), "n_essays": len(part),
                     "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=columns)


def proportion_interval(successes: int, trials: int) -> tuple[float, float]:
    """95 % Wilson score interval of ``successes / trials`` (NaN, NaN with no trial)."""
    if trials <= 0:
        return (float("nan"), float("nan"))
    interval = scipy_stats.binomtest(int(successes), int(trials)).proportion_ci(
        confidence_level=CONFIDENCE, method="wilson"
    )
    return (float(interval.low), float(interval.high))


def competition_ranks(values: Sequence[float] | np.ndarray) -> tuple[list[int], list[str]]:
    """Ranks of ``values`` (higher is better), in the order given: equal values share the best rank
    ("1224" competition ranking, ``scipy.stats.rankdata`` with ``method="min"``) and tied labels end
    with ``=`` (``1=``, ``1=``, ``3``). NaN values rank last and are never tied with each other.
    """
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return [], []
    # Higher is better: rank the negated values; NaN goes last, each on its own rank.
    keyed = np.where(np.isnan(array), np.inf, -array)
    ranks = scipy_stats.rankdata(keyed, method="min").astype(int)
    nan_positions = np.flatnonzero(np.isnan(array))
    for offset, position in enumerate(nan_positions):
        ranks[position] = int(ranks[position]) + offset
    counts = pd.Series(ranks).value_counts()
    labels = [f"{r}=" if counts[r] > 1 else str(r) for r in ranks]
    return [int(r) for r in ranks], labels


def pooled_sd(frame: pd.DataFrame, keys: Sequence[str], value: str) -> tuple[float, int, int]:
    """The within-group standard deviation of ``value`` pooled over the groups of ``keys`` that
    have at least two values: sqrt(sum((n_i - 1) var_i) / sum(n_i - 1)).

    Returns (sd, groups used, degrees of freedom); (NaN, 0, 0) when no group has two values.
    """
    valued = frame[frame[value].notna()]
    if valued.empty:
        return (float("nan"), 0, 0)
    grouped = valued.groupby(list(keys), sort=False)[value].agg(["var", "count"])
    usable = grouped[grouped["count"] >= 2]
    dof = int((usable["count"] - 1).sum())
    if dof == 0:
        return (float("nan"), 0, 0)
    pooled = float(((usable["count"] - 1) * usable["var"]).sum() / dof)
    return (float(np.sqrt(pooled)), len(usable), dof)


def rounded_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], digits: Mapping[str, int]
) -> pd.DataFrame:
    """``rows`` as a table of ``columns``; each column named in ``digits`` as floats rounded to its
    number of decimals (NaN stays NaN, an empty table keeps its float columns)."""
    table = pd.DataFrame(list(rows), columns=list(columns))
    for column, places in digits.items():
        table[column] = table[column].astype(float).round(places)
    return table
