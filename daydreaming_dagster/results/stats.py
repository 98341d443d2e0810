"""The statistics every result table shares: intervals over essays, rates, ranks with ties, pooled spread.

Pure functions of arrays and frames, no I/O. Deterministic: the intervals of means are closed-form,
and the random draws of the bootstraps that remain (alpha's interval) come from a generator seeded
with ``SEED`` and the values that name what is resampled (``rng_for``).

- ``cluster_mean_intervals``: the mean of a group's scores with a 95 % t-interval whose standard
  error counts essays, not evaluations (a cluster-robust, "CR1", standard error with essays - 1
  degrees of freedom): two graders scoring one essay are not two independent observations. When
  every essay of the group has the same number of scores this is exactly the t-interval of the
  essays' means (``scipy.stats.ttest_1samp``; a test checks it). ``n`` is the number of essays.
  Chosen over the cluster bootstrap it replaced because the percentile bootstrap is far too narrow
  with few essays (simulated coverage of a 95 % interval: 51 % with 2 essays, 74 % with 3, 86 % with
  5; the t-interval: 94-95 %, ``tests/results/test_stats.py``), and it costs no resampling.
- ``mean_interval``: the t-interval of the mean of independent values (``scipy.stats.t``).
- ``proportion_interval``: a rate's 95 % Wilson score interval (``scipy.stats.binomtest``).
- ``holm``: Holm's step-down adjustment of p-values for multiple comparisons.
- ``competition_ranks``: ranks where equal values share the best rank and are marked ``1=``.
- ``pooled_sd``: the within-group standard deviation pooled over groups (a one-way ANOVA's within
  mean square, square-rooted).
- ``rounded_table``: rows as a table whose figures are rounded as the CSV shows them.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

SEED = 20_251_119
CONFIDENCE = 0.95
# Resampled values held in memory at once (scipy's ``batch``): bounds memory at ~50 MB per call.
BOOTSTRAP_BATCH_VALUES = 3_000_000
MEAN_INTERVAL_METHOD = (
    "t-interval over essays: cluster-robust standard error of the mean (essays as clusters), "
    "t with essays - 1 degrees of freedom (scipy.stats.t)"
)
RATE_INTERVAL_METHOD = "Wilson score interval (scipy.stats.binomtest)"
HOLM_METHOD = "Holm step-down adjustment over the table's comparisons"


def rng_for(*labels: Hashable) -> np.random.Generator:
    """A generator seeded by ``SEED`` and the labels (e.g. the table and the group's key)."""
    digest = zlib.crc32(repr(labels).encode("utf-8"))
    return np.random.default_rng([SEED, digest])


def batch_for(n: int) -> int:
    """Resamples per batch so that one batch holds at most ``BOOTSTRAP_BATCH_VALUES`` values."""
    return max(1, BOOTSTRAP_BATCH_VALUES // max(n, 1))


def _cluster_t_bounds(
    clusters: np.ndarray, total: np.ndarray, count: np.ndarray, residual_ss: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``total / count`` from per-group sums (vectorised over groups).

    ``residual_ss`` is sum_i ((sum_i - R count_i) / mean count)^2 over the group's essays, with
    R = total / count: the linearised ratio estimator's residuals, scaled so that each is an essay
    mean's deviation when essays have equal counts. Its CR1 variance is residual_ss / (G (G - 1)).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / count
        se = np.sqrt(residual_ss / (clusters * (clusters - 1)))
        half = scipy_stats.t.ppf((1 + CONFIDENCE) / 2, clusters - 1) * se
    half = np.where(clusters >= 2, half, np.nan)
    return mean - half, mean + half


def cluster_mean_interval(sums: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """95 % interval of ``sum(sums) / sum(counts)`` with essays (clusters) as the independent units.

    ``sums[i]`` and ``counts[i]`` are the total and the number of scores of essay ``i``. Fewer than
    two essays give no interval (NaN, NaN).
    """
    sums = np.asarray(sums, dtype=float)
    counts = np.asarray(counts, dtype=float)
    clusters = float(len(sums))
    if clusters < 2:
        return (float("nan"), float("nan"))
    total, count = sums.sum(), counts.sum()
    residual_ss = float((((sums - total / count * counts) / (count / clusters)) ** 2).sum())
    low, high = _cluster_t_bounds(np.array([clusters]), np.array([total]), np.array([count]),
                                  np.array([residual_ss]))
    return (float(low[0]), float(high[0]))


def cluster_mean_intervals(
    frame: pd.DataFrame,
    keys: Sequence[str],
    *,
    value: str = "score",
    cluster: str = "essay_gen_id",
) -> pd.DataFrame:
    """Per group of ``keys``: ``n_essays`` (distinct clusters with a value) and the 95 % interval
    of the group's mean value (``cluster_mean_interval``, vectorised over the groups).

    Rows without a value are ignored. With no keys the whole frame is one group.
    """
    columns = [*keys, "n_essays", "ci_low", "ci_high"]
    valued = frame[frame[value].notna()]
    if valued.empty:
        return pd.DataFrame(columns=columns)
    group_keys = list(keys) or ["_all"]
    work = pd.DataFrame({k: valued[k].fillna("") for k in keys}) if keys else pd.DataFrame(
        {"_all": np.zeros(len(valued), dtype=np.int8)}, index=valued.index)
    work["_cluster"] = valued[cluster].astype(str)
    work["_value"] = valued[value].astype(float)
    per_cluster = work.groupby([*group_keys, "_cluster"], sort=True)["_value"].agg(["sum", "count"]).reset_index()
    grouped = per_cluster.groupby(group_keys, sort=True)
    total = grouped["sum"].transform("sum").to_numpy(dtype=float)
    count = grouped["count"].transform("sum").to_numpy(dtype=float)
    clusters = grouped["sum"].transform("size").to_numpy(dtype=float)
    residual = (per_cluster["sum"].to_numpy(dtype=float) - total / count * per_cluster["count"].to_numpy(dtype=float))
    per_cluster["_r2"] = (residual / (count / clusters)) ** 2
    summary = per_cluster.groupby(group_keys, sort=True).agg(
        n_essays=("_cluster", "size"), _total=("sum", "sum"), _count=("count", "sum"), _r2=("_r2", "sum"))
    low, high = _cluster_t_bounds(summary["n_essays"].to_numpy(dtype=float), summary["_total"].to_numpy(dtype=float),
                                  summary["_count"].to_numpy(dtype=float), summary["_r2"].to_numpy(dtype=float))
    result = summary.reset_index()[group_keys].assign(n_essays=summary["n_essays"].to_numpy(dtype=int),
                                                       ci_low=low, ci_high=high)
    return result.reindex(columns=columns) if keys else result.drop(columns="_all").reindex(columns=columns)


def no_spread(values: np.ndarray) -> bool:
    """All values equal, up to rounding (a fraction of scale such as 0.9 / 9 is not exactly 0.1)."""
    return bool(np.ptp(values) <= 1e-12 * max(1.0, float(np.max(np.abs(values)))))


def mean_interval(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """95 % t-interval of the mean of independent ``values`` (``scipy.stats.t.interval``, the
    interval ``scipy.stats.ttest_1samp`` gives, at a third of its cost: success_by_group takes one
    per combination); NaN values are ignored; (NaN, NaN) below two values; the value itself when
    all are equal."""
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    if len(array) < 2:
        return (float("nan"), float("nan"))
    if no_spread(array):
        return (float(array.mean()), float(array.mean()))
    n = len(array)
    low, high = scipy_stats.t.interval(CONFIDENCE, n - 1, loc=array.mean(), scale=array.std(ddof=1) / np.sqrt(n))
    return (float(low), float(high))


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the order given; NaN stays NaN
    and does not count as a test.

    Sorted ascending, the i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1)
    p_(j)) (Holm 1979; R's ``p.adjust(method="holm")``). Neither scipy (``false_discovery_control``
    is Benjamini-Hochberg) nor the installed libraries offer it.
    """
    array = np.asarray(p_values, dtype=float)
    adjusted = np.full(array.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(array))
    if len(tested) == 0:
        return adjusted
    order = tested[np.argsort(array[tested], kind="stable")]
    m = len(order)
    stepped = np.minimum(1.0, (m - np.arange(m)) * array[order])
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted


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
