"""Statistics for steerability (Jahanian et al. Sec. 3, 4.2, App. B.3).

- `intersection`: the area shared by two attribute distributions, ``sum_i min(p_i, q_i)`` over a
  common histogram (1 = same distribution, 0 = disjoint) - Figs. 5 and 10.
- `pearson`: Pearson r with its two-sided p-value and the least-squares slope - Table 1.
- `ttest`: two-sample t-test (Student's, or Welch's with ``equal_var=False``) - App. B.3.

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

__all__ = ["intersection", "pearson", "ttest"]


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
