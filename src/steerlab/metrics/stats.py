"""Statistics for steerability (Jahanian et al. Sec. 3, 4.2, App. B.3).

- `intersection`: the area shared by two attribute distributions, ``sum_i min(p_i, q_i)`` over a
  common histogram (1 = same distribution, 0 = disjoint) - Figs. 5 and 10.
- `pearson`: Pearson r with its two-sided p-value and the least-squares slope - Table 1.
- `ttest`: two-sample t-test (Student's, or Welch's with ``equal_var=False``) - App. B.3.
- `paired_change`: what a walk does to each sample - the per-sample change of an attribute
  against the same sample at alpha's identity (median, inter-quartile range, fraction moving the
  asked way, fraction detected), reported beside every mean.
- `sigma_pair`: the two classes a per-class t-test compares, chosen from the *dataset's*
  per-class spread before any model is measured (as the paper picks jellyfish / goldfinch).

Each is a short numpy function checked against scipy in the tests; p-values use scipy's
distributions (the t and beta CDFs).

Example:
    >>> round(intersection([0.1, 0.2, 0.3], [0.1, 0.2, 0.3]), 6)
    1.0
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["intersection", "pearson", "ttest", "paired_change", "sigma_pair"]


def _vector(x, name: str, min_len: int = 2) -> np.ndarray:
    a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64).reshape(-1)
    if a.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} values, got {a.size}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def intersection(p: Sequence[float], q: Sequence[float], *, bins: int = 50,
                 range: tuple[float, float] | None = None) -> float:
    """Area of the intersection of two empirical distributions (histograms on shared bins).

    Args:
        p, q: samples of one attribute (e.g. luminance of G(z) and of G(z + alpha w)).
        bins: histogram bins over ``range``.
        range: (lo, hi); default the joint min and max of both samples.

    Returns:
        float in [0, 1]: 1 when the histograms coincide, 0 when they do not overlap.
    """
    a, b = _vector(p, "intersection(p)", 1), _vector(q, "intersection(q)", 1)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    lo, hi = range if range is not None else (min(a.min(), b.min()), max(a.max(), b.max()))
    if not hi > lo:
        hi = lo + 1e-9
    ha = np.histogram(a, bins=bins, range=(lo, hi))[0] / a.size
    hb = np.histogram(b, bins=bins, range=(lo, hi))[0] / b.size
    return float(np.minimum(ha, hb).sum())


def pearson(x: Sequence[float], y: Sequence[float]) -> dict:
    """Pearson correlation of paired samples, its two-sided p-value, and the fitted line.

    Returns:
        ``{"r": float, "p": float, "slope": float, "intercept": float, "n": int}``; ``p`` tests
        r = 0 with the exact t distribution (n - 2 degrees of freedom), as scipy.stats.pearsonr.
    """
    from scipy.special import betainc

    a, b = _vector(x, "pearson(x)", 3), _vector(y, "pearson(y)", 3)
    if a.size != b.size:
        raise ValueError(f"pearson needs paired samples, got {a.size} and {b.size} values")
    da, db = a - a.mean(), b - b.mean()
    sa, sb = math.sqrt((da * da).sum()), math.sqrt((db * db).sum())
    if sa == 0 or sb == 0:
        raise ValueError("pearson: one of the samples is constant, r is undefined")
    r = float(np.clip((da * db).sum() / (sa * sb), -1.0, 1.0))
    n = a.size
    # P(|T| >= |t|) for t = r sqrt((n-2)/(1-r^2)), written through the regularised beta function
    p = 0.0 if abs(r) == 1.0 else float(betainc((n - 2) / 2, 0.5, 1.0 - r * r))
    slope = float((da * db).sum() / (sa * sa))
    return {"r": r, "p": p, "slope": slope, "intercept": float(b.mean() - slope * a.mean()), "n": int(n)}


def ttest(x: Sequence[float], y: Sequence[float], *, equal_var: bool = True) -> dict:
    """Two-sample t-test of equal means (two-sided).

    Args:
        x, y: independent samples (at least 2 values each).
        equal_var: Student's test with pooled variance (True) or Welch's test (False).

    Returns:
        ``{"t": float, "p": float, "df": float, "mean_diff": float}`` with
        ``mean_diff = mean(x) - mean(y)``.
    """
    from scipy.stats import t as t_dist

    a, b = _vector(x, "ttest(x)"), _vector(y, "ttest(y)")
    na, nb = a.size, b.size
    va, vb = a.var(ddof=1), b.var(ddof=1)
    diff = float(a.mean() - b.mean())
    if equal_var:
        df = na + nb - 2.0
        se = math.sqrt(((na - 1) * va + (nb - 1) * vb) / df * (1 / na + 1 / nb))
    else:
        se = math.sqrt(va / na + vb / nb)
        df = (va / na + vb / nb) ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1)) if se > 0 else 1.0
    if se == 0:
        raise ValueError("ttest: both samples are constant, t is undefined")
    t = diff / se
    return {"t": float(t), "p": float(2 * t_dist.sf(abs(t), df)), "df": float(df), "mean_diff": diff}


def paired_change(base, moved, *, sign: int | None = None) -> dict:
    """Per-sample paired change ``moved[i] - base[i]`` of an attribute (the same z, two alphas).

    A mean over samples can rise while most samples do not move (or move the other way); these
    numbers say what happens to each sample.

    Args:
        base: (N,) attribute of each sample at alpha's identity; NaN (or None) where the detector
            found nothing.
        moved: (N,) the same samples' attribute at another alpha; NaN / None where not found.
        sign: the way the edit asks the attribute to move: +1 (up), -1 (down), 0 or None (no
            asked way, e.g. at the identity or for an unnamed direction).

    Returns:
        ``{"n": N, "n_paired": int, "detected": float in [0, 1]`` (fraction of samples found at
        both alphas) ``, "median", "q25", "q75", "iqr", "mean"`` (of the change over paired
        samples; None if none) ``, "increased", "decreased"`` (fractions of paired samples whose
        change is > 0 / < 0) ``, "asked_way"`` (the fraction moving the asked way: ``increased``
        for sign +1, ``decreased`` for -1, None otherwise) ``, "median_ratio"`` (median of
        ``moved / base`` when every paired base value is > 0, e.g. a width; else None) ``}``.

    Example:
        >>> r = paired_change([1.0, 1.0, 1.0, 1.0], [1.5, 0.5, 2.0, None], sign=1)
        >>> r["median"], r["asked_way"], r["detected"]
        (0.5, 0.6666666666666666, 0.75)
    """
    a = np.asarray([np.nan if v is None else v for v in _as_list(base)], dtype=np.float64).reshape(-1)
    b = np.asarray([np.nan if v is None else v for v in _as_list(moved)], dtype=np.float64).reshape(-1)
    if a.size != b.size or a.size == 0:
        raise ValueError(f"paired_change needs two non-empty paired samples, got {a.size} and {b.size} values")
    if sign not in (None, -1, 0, 1):
        raise ValueError(f"sign must be -1, 0, 1 or None, got {sign!r}")
    ok = np.isfinite(a) & np.isfinite(b)
    d, n_ok = b[ok] - a[ok], int(ok.sum())
    out = {"n": int(a.size), "n_paired": n_ok, "detected": n_ok / a.size, "median": None, "q25": None,
           "q75": None, "iqr": None, "mean": None, "increased": None, "decreased": None,
           "asked_way": None, "median_ratio": None}
    if not n_ok:
        return out
    q25, med, q75 = (float(v) for v in np.percentile(d, [25, 50, 75]))
    out.update(median=med, q25=q25, q75=q75, iqr=q75 - q25, mean=float(d.mean()),
               increased=float((d > 0).mean()), decreased=float((d < 0).mean()))
    if sign:
        out["asked_way"] = out["increased"] if sign > 0 else out["decreased"]
    if (a[ok] > 0).all():
        out["median_ratio"] = float(np.median(b[ok] / a[ok]))
    return out


def _as_list(x) -> list:
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return list(np.asarray(x, dtype=object).reshape(-1)) if not isinstance(x, list) else x


def sigma_pair(values, labels, names: Sequence[str] | None = None, *, min_count: int = 2) -> dict:
    """The classes with the largest and the smallest spread of an attribute in the *dataset*.

    This is the pair a per-class test compares when it is chosen before measuring the model
    (Jahanian et al. compare jellyfish / goldfinch, picked for their colour variety in the data),
    unlike a pair picked after measuring (the most and least moved classes), whose p-value is
    biased towards significance.

    Args:
        values: (M,) attribute of M dataset images (NaN / None where not found).
        labels: (M,) their integer classes.
        names: class names (default: the class indices as strings).
        min_count: classes with fewer finite values are skipped.

    Returns:
        ``{"high": name, "low": name, "sigma_high": float, "sigma_low": float, "sigma": {name: float}}``.

    Raises:
        ValueError: fewer than two classes have ``min_count`` finite values.
    """
    v = np.asarray([np.nan if x is None else x for x in _as_list(values)], dtype=np.float64).reshape(-1)
    lab = np.asarray(_as_list(labels), dtype=np.int64).reshape(-1)
    if v.size != lab.size:
        raise ValueError(f"sigma_pair needs one label per value, got {v.size} values and {lab.size} labels")
    sig = {}
    for k in sorted(set(lab.tolist())):
        f = v[(lab == k) & np.isfinite(v)]
        if f.size >= min_count:
            sig[names[k] if names is not None else str(k)] = float(f.std(ddof=1))
    if len(sig) < 2:
        raise ValueError(f"sigma_pair needs at least 2 classes with >= {min_count} finite values, got {len(sig)}")
    hi, lo = max(sig, key=sig.get), min(sig, key=sig.get)
    return {"high": hi, "low": lo, "sigma_high": sig[hi], "sigma_low": sig[lo], "sigma": sig}
