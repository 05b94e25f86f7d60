"""Weight-direction calibration and analysis compute the unshifted side once, with the same numbers."""
import math

import pytest
import torch

import steerlab.methods.paramspace.calibrate as cal
from helpers import make_tiny
from steerlab.directions.ops import ShiftRenderer, render_shifted
from steerlab.evaluation import weights as insp
from steerlab.methods import METHODS
from steerlab.methods.paramspace.svd import svd_directions, top_singular
from steerlab.metrics.perceptual import perceptual_distance


def _unit(shape, seed):
    xi = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return xi / xi.norm()


@pytest.fixture
def tiny32():  # 32 px: ST-LPIPS takes it as it is (smaller images are upsampled to 64 px)
    return make_tiny(resolution=32)


def test_perceptual_change_from_a_reference_is_the_plain_distance(tiny32):
    tiny = tiny32
    xi = _unit(tiny.conv2.weight.shape, 1)
    z, c = cal.calibration_codes(tiny, 2)
    ref = cal.calibration_reference(tiny, z, c)
    for t in (8.0, -30.0):
        plain = perceptual_distance(tiny.synthesize(z), render_shifted(tiny, z, "conv2.weight", t * xi)).mean()
        got = cal.perceptual_change(tiny, "conv2.weight", xi, [t], reference=ref)[0]
        assert got == pytest.approx(float(plain), rel=1e-5, abs=1e-7) and got > 1e-4
    assert cal.perceptual_change(tiny, "conv2.weight", xi, [0.0], reference=ref)[0] < 1e-6


def test_discovery_computes_the_unshifted_features_once(tiny32, monkeypatch):
    tiny, codes = tiny32, cal.calibration_codes
    monkeypatch.setattr(cal, "calibration_codes", lambda G: codes(G, 2))
    sizes, renders = [], []
    feats, shifted = cal.perceptual_features, cal.ShiftRenderer.__call__
    monkeypatch.setattr(cal, "perceptual_features", lambda x, net="alex": sizes.append(x.shape[0]) or feats(x, net))
    monkeypatch.setattr(cal.ShiftRenderer, "__call__", lambda *a, **kw: renders.append(1) or shifted(*a, **kw))
    entry = METHODS.get("svd")
    dirs = entry(tiny, entry.make_config(strict=False, layer="conv2.weight", k=2, progress=False))
    assert len(dirs) == 2 and all(d.metrics["perceptual_change_at_T"] > 0 for d in dirs)
    assert len(renders) >= 2 * 2 * 3  # per direction: >= 2 root-finding evaluations of +-t, then the change at +-T
    assert len(sizes) == len(renders) + 1  # one feature pass per shifted render, plus the reference once


def test_secant_matches_the_bisection_within_its_tolerance_in_fewer_renders(tiny32, monkeypatch):
    tiny, iters = tiny32, 8
    z, c = cal.calibration_codes(tiny, 2)
    ref = cal.calibration_reference(tiny, z, c)
    calls, change = [], cal.perceptual_change
    monkeypatch.setattr(cal, "perceptual_change", lambda *a, **kw: calls.append(1) or change(*a, **kw))
    w = tiny.conv2.weight
    # brackets found by doubling from below, and [0, start] from above (max_shift: 32.7)
    for xi, target, start in ((svd_directions(w, 1)[0][0], 0.05, 1.0), (_unit(w.shape, 4), 0.02, 30.0)):
        found = {}
        for method in ("bisect", "secant"):
            calls.clear()
            t = cal.calibrate_shift(tiny, "conv2.weight", xi, target, reference=ref, start=start,
                                    iters=iters, method=method)
            found[method] = (t, len(calls))
        (tb, nb), (ti, ni) = found["bisect"], found["secant"]
        # the bisection's tolerance: its last bracket, 2^-iters of [0, start] or of [T/2, T] doubled
        assert abs(ti - tb) <= max(tb, start) * 2.0 ** -iters, (target, start, tb, ti)
        assert ni < nb, (target, start, nb, ni)


@pytest.mark.parametrize("change,root", [
    (lambda t: 0.15 * (t / 7.0) ** 1.2, 7.0),                 # a power law (the calibrated range)
    (lambda t: 0.15 * (t / 0.3) ** 2, 0.3),                   # quadratic, root far below the start
    (lambda t: 0.15 * (t / 40.0) ** 0.6, 40.0),               # slower than linear: the first step falls short
    (lambda t: 0.6 * (1 - math.exp(-t / 50.0)), 50.0 * math.log(4 / 3)),  # saturating
    (lambda t: 0.15 * (t / 3.0) ** 1.5 * (1 + 0.3 * math.sin(t)), None),  # not a power law
])
@pytest.mark.parametrize("start", [0.01, 1.0, 500.0])
def test_secant_scale_brackets_the_root_within_its_tolerance(change, root, start):
    iters, seen = 8, {}

    def c(t):
        seen[t] = change(t)
        return seen[t]

    t = cal.secant_scale(c, 0.15, start=start, iters=iters)
    assert t in seen and seen[t] >= 0.15  # an evaluated shift at or above the target
    below = [s for s, v in seen.items() if v < 0.15 and s < t]  # ...with an evaluated one just below
    assert below and t - max(below) <= 2.0 ** -(iters + 1) * t, (t, sorted(seen))
    if root is not None:
        assert abs(t - root) <= 2.0 ** -(iters + 1) * t
    assert len(seen) <= 14, len(seen)
    # the bisection from the same start needs more evaluations and lands within its tolerance
    n, seen = len(seen), {}
    tb = cal.bisect_scale(c, 0.15, start=start, iters=iters)
    assert abs(tb - t) <= 2.0 ** -iters * max(tb, start) and n < len(seen)


def test_secant_scale_stops_at_max_scale():
    assert cal.secant_scale(lambda t: 0.01 * t, 0.15, start=1.0, max_scale=8.0) == 8.0
    assert cal.secant_scale(lambda t: 0.01 * t, 0.15, start=100.0, max_scale=8.0) == 8.0


def test_calibration_stops_at_max_shift_and_refuses_bad_options(tiny32):
    tiny = tiny32
    z, c = cal.calibration_codes(tiny, 2)
    ref = cal.calibration_reference(tiny, z, c)
    xi = _unit(tiny.conv2.weight.shape, 5)
    for method in cal.ROOT_FINDERS:  # 1e-3 of a unit shift changes the images far less than 0.5
        assert cal.calibrate_shift(tiny, "conv2.weight", xi, 0.5, reference=ref, max_shift=1e-3,
                                   method=method) == 1e-3
    with pytest.raises(ValueError, match="root finder 'newton'.*secant, bisect"):
        cal.calibrate_shift(tiny, "conv2.weight", xi, 0.1, reference=ref, method="newton")
    with pytest.raises(ValueError, match="start shift must be a positive number"):
        cal.calibrate_shift(tiny, "conv2.weight", xi, 0.1, reference=ref, start=0.0)


@pytest.mark.parametrize("shape,k", [((6, 4, 3, 3), 2), ((40, 5), 3), ((6, 2, 2), 4)])
def test_top_singular_pairs_match_the_full_svd(shape, k):
    w = torch.randn(*shape, generator=torch.Generator().manual_seed(2))
    m = w.reshape(shape[0], -1).double()
    u, s, vh = torch.linalg.svd(m, full_matrices=False)
    tu, ts, tvh = top_singular(m, k)
    assert torch.allclose(ts, s[:k], rtol=1e-10)
    for i in range(k):  # the rank-one products (sign-free) agree
        assert torch.allclose(torch.outer(tu[:, i], tvh[i]), torch.outer(u[:, i], vh[i]), atol=1e-10)
    dirs, sigma = svd_directions(w, k)
    full = torch.stack([torch.outer(u[:, i], vh[i]) for i in range(k)]).float().reshape(k, *shape)
    assert torch.allclose(dirs, full, atol=1e-6) and torch.allclose(sigma, s[:k].float())
    assert torch.allclose(dirs.flatten(1) @ dirs.flatten(1).T, torch.eye(k), atol=1e-5)


def test_locality_heatmap_with_precomputed_renderers_is_unchanged(tiny):
    xi = _unit(tiny.conv3.weight.shape, 3)
    renderers = insp.shift_renderers(tiny, "conv3.weight", 5, 3, batch_size=2)
    assert torch.equal(torch.cat([r.base for r in renderers]), insp.unshifted_images(tiny, 5, 3, batch_size=2))
    heat, conc = insp.locality_heatmap(tiny, "conv3.weight", xi, [0.5, -0.5], n=5, seed=3, batch_size=2)
    heat2, conc2 = insp.locality_heatmap(tiny, "conv3.weight", xi, [0.5, -0.5], n=5, seed=3, batch_size=2,
                                         renderers=renderers)
    assert torch.equal(heat, heat2) and conc == conc2 and heat.sum() > 0
    with pytest.raises(ValueError, match="another layer"):
        insp.locality_heatmap(tiny, "conv2.weight", torch.randn_like(tiny.conv2.weight), [0.5], n=5, seed=3,
                              renderers=renderers)


def test_grid_and_overview_from_one_renderer_match_the_plain_renders(tiny):
    """discover renders the grid's codes and the overview's code through one ShiftRenderer per layer."""
    from steerlab.methods.paramspace.shifts import render_shifts

    xi = _unit(tiny.conv2.weight.shape, 4)
    plain, labels = insp.shift_grid(tiny, "conv2.weight", xi, 0.8, n_z=3, n_shifts=5, seed=2)
    (zg, _), (z1, _) = insp.sample_codes(tiny, 3, 2), insp.sample_codes(tiny, 1, 2)
    r = ShiftRenderer(tiny, "conv2.weight", torch.cat([zg, z1]))
    assert r.fast  # the conv's output is replaced, not recomputed
    ts = torch.linspace(-0.8, 0.8, 5)
    imgs = torch.stack([r(xi, t) for t in ts.tolist()])                    # (5, 4, C, H, W)
    assert max(float((a - b).abs().max()) for a, b in zip(plain, imgs[:, :3].transpose(0, 1))) < 1e-5
    over = render_shifts(tiny, z1, "conv2.weight", ts.view(-1, 1, 1, 1, 1) * xi)[:, 0]
    assert float((over - imgs[:, 3]).abs().max()) < 1e-5
    assert labels == insp.shift_labels(ts, 0.8) and labels[2] == "0"
    assert float((imgs[0] - imgs[2]).abs().max()) > 1e-3  # -T and 0 differ: the shift is applied
