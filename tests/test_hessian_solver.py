"""The Hessian eigensolver: thick-restart Lanczos against dense eigendecompositions, and the overlap."""
import math

import pytest
import torch

from helpers import make_tiny
from steerlab.methods.paramspace.hessian import (
    LayerHessian,
    fix_signs,
    hessian_directions,
    lanczos_topk,
    prefix_overlaps,
    subspace_overlap,
)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def spectrum_matrix(lam: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, Q): a dense symmetric float64 matrix with eigenvalues ``lam`` and eigenvectors Q's columns."""
    g = torch.Generator().manual_seed(seed)
    q = torch.linalg.qr(torch.randn(lam.numel(), lam.numel(), generator=g, dtype=torch.float64))[0]
    return (q * lam.double()) @ q.T, q


def check_against_dense(A, vals, vecs, k, rtol):
    ev, evec = torch.linalg.eigh(A)
    ev, evec = ev.flip(0)[:k], evec.flip(1)[:, :k]
    assert float(((vals.double() - ev) / ev).abs().max()) < rtol
    cos = (vecs.double() @ evec).diagonal().abs()  # each vector against its own rank
    assert float(cos.min()) > 0.999
    gram = vecs.double() @ vecs.double().T
    assert torch.allclose(gram, torch.eye(k, dtype=torch.float64), atol=1e-4)


def test_topk_of_an_explicit_matrix_matches_the_dense_eigendecomposition():
    g = torch.Generator().manual_seed(0)
    lam = torch.cat([torch.tensor([40.0, 30, 22, 17, 13, 10, 8, 6.5]), torch.rand(492, generator=g) * 4])
    A, _ = spectrum_matrix(lam)
    vals, vecs, info = lanczos_topk(lambda x: (x.double() @ A).float(), 500, 8, tol=1e-4,
                                    generator=torch.Generator().manual_seed(1))
    assert info["converged"] and info["matvecs"] < 100
    assert torch.all(vals[:-1] >= vals[1:])  # descending
    check_against_dense(A, vals, vecs, 8, 1e-4)


def test_residual_estimates_from_the_projected_matrix_equal_the_true_residuals():
    g = torch.Generator().manual_seed(2)
    lam = torch.cat([torch.tensor([9.0, 7, 6, 5.5]), torch.rand(296, generator=g) * 3])
    A, _ = spectrum_matrix(lam, seed=2)
    vals, vecs, info = lanczos_topk(lambda x: x.double() @ A, 300, 4, tol=1e-3, dtype=torch.float64,
                                    generator=torch.Generator().manual_seed(3))
    true = (vecs @ A - vals[:, None] * vecs).norm(dim=1) / vals.abs()
    est = torch.tensor(info["residuals"], dtype=torch.float64)
    assert torch.allclose(est, true, rtol=1e-3, atol=1e-10)
    assert float(true.max()) <= 1e-3


def test_thick_restart_path_reaches_the_same_eigenpairs():
    # A slowly decaying spectrum: a basis of 12 cannot hold the answer, so the solver must restart.
    lam = torch.linspace(10, 1, 400).pow(2)
    A, _ = spectrum_matrix(lam, seed=4)
    mv = lambda x: (x.double() @ A).float()  # noqa: E731
    vals, vecs, info = lanczos_topk(mv, 400, 6, tol=1e-5, max_dim=12, generator=torch.Generator().manual_seed(5))
    assert info["converged"] and info["restarts"] >= 3
    check_against_dense(A, vals, vecs, 6, 1e-5)
    _, _, free = lanczos_topk(mv, 400, 6, tol=1e-5, max_dim=200, generator=torch.Generator().manual_seed(5))
    assert free["restarts"] == 0


def test_partial_reorthogonalisation_keeps_ghosts_out():
    # Well-separated large eigenvalues converge fast; plain Lanczos then loses orthogonality and
    # finds them again (ghost copies). Only some steps may reorthogonalise against the basis.
    lam = torch.cat([torch.tensor([1000.0, 300.0, 100.0]), torch.linspace(1, 0.01, 597)])
    A, _ = spectrum_matrix(lam, seed=6)
    vals, vecs, info = lanczos_topk(lambda x: (x.double() @ A).float(), 600, 5, tol=1e-4, max_dim=80,
                                    generator=torch.Generator().manual_seed(7))
    assert info["converged"]
    check_against_dense(A, vals, vecs, 5, 1e-4)
    assert 0 < info["reorthogonalisations"] < info["matvecs"]


def test_block_solver_is_still_selectable():
    lam = torch.cat([torch.tensor([5.0, 4.0, 3.0]), torch.linspace(1, 0.1, 97)])
    A, _ = spectrum_matrix(lam, seed=8)
    vals, vecs, info = lanczos_topk(lambda x: (x.double() @ A).float(), 100, 3, block=3, tol=1e-4)
    assert "restarts" not in info  # the block solver's own record
    check_against_dense(A, vals, vecs, 3, 1e-4)


def test_bad_arguments_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"k must be in \[1, 10\], got 11"):
        lanczos_topk(lambda x: x, 10, 11)
    with pytest.raises(ValueError, match="max_dim must exceed k = 4"):
        lanczos_topk(lambda x: x, 10, 4, max_dim=3)


def test_tiny_generator_hessian_matches_autograd_dense_hessian():
    G = make_tiny(width=2)
    z = G.sample_z(3, generator=torch.Generator().manual_seed(0))
    op = LayerHessian(G, "conv2.weight", z, distance="l2")          # 128 parameters, gaps >= 3.7 %
    f = lambda a: op._value(a.reshape(op.shape), 0, z, None)       # noqa: E731  one chunk: mean over z
    H = torch.autograd.functional.hessian(f, torch.zeros(op.dim)).double()
    H = 0.5 * (H + H.T)
    vals, vecs, info = lanczos_topk(op.matvec, op.dim, 6, tol=1e-4, generator=torch.Generator().manual_seed(1))
    assert info["converged"] and info["matvecs"] < op.dim
    check_against_dense(H, vals, vecs, 6, 1e-3)


def test_subspace_overlap_on_known_subspaces():
    e = torch.eye(6, dtype=torch.float64)
    rot = torch.linalg.qr(torch.randn(2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
    assert subspace_overlap(e[:2], rot @ e[:2]) == pytest.approx(1.0)          # same span, other basis
    assert subspace_overlap(e[:2], e[2:4]) == pytest.approx(0.0, abs=1e-12)    # orthogonal
    assert subspace_overlap(e[:2], e[[0, 2]]) == pytest.approx(0.5)            # one shared axis of two
    t = 0.3
    assert subspace_overlap(e[:1], (math.cos(t) * e[0] + math.sin(t) * e[1])[None]) == pytest.approx(math.cos(t) ** 2)
    assert subspace_overlap(3.0 * e[:2].reshape(2, 2, 3), e[:2]) == pytest.approx(1.0)  # scale and shape free


def test_fix_signs_makes_the_largest_entry_positive_whatever_the_sign_given():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(5, 3, 4, generator=g)
    fixed = fix_signs(v)
    flat = fixed.reshape(5, -1)
    assert (flat.gather(1, flat.abs().argmax(1, keepdim=True)) > 0).all()
    flips = torch.tensor([1.0, -1.0, -1.0, 1.0, -1.0]).reshape(5, 1, 1)
    assert torch.equal(fix_signs(v * flips), fixed)                 # the start's sign no longer matters
    assert torch.equal(fixed.abs(), v.abs())


def test_prefix_overlaps_are_the_overlaps_of_the_leading_subspaces():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 3, 5, generator=g, dtype=torch.float64), torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    mixed = torch.stack([a[0], a[0] + a[1], b[2], b[3]])            # shares its top-2 span with a, not its top 4
    prefix = prefix_overlaps(a, mixed)
    assert prefix == pytest.approx([subspace_overlap(a[:j], mixed[:j]) for j in range(1, 5)])
    assert prefix[0] == pytest.approx(1.0) and prefix[1] == pytest.approx(1.0) and prefix[3] < 0.9
    with pytest.raises(ValueError, match="same size, got 4 and 2"):
        prefix_overlaps(a, mixed[:2])


def test_overlap_of_two_disjoint_batches_is_reported_and_grows_with_the_batch():
    G, layer = make_tiny(width=2), "conv2.weight"                   # 128 parameters
    common = dict(distance="l2", tol=1e-4, progress=False)
    _, vecs, info = hessian_directions(G, layer, 3, n_z=2, overlap=True, **common)
    # Recompute by hand: the second batch is the next n_z codes of the same seeded stream.
    z = G.sample_z(4, generator=torch.Generator().manual_seed(0))
    other = [lanczos_topk(LayerHessian(G, layer, zz, distance="l2").matvec, 128, 3, tol=1e-4)[1]
             for zz in (z[:2], z[2:])]
    assert subspace_overlap(vecs, other[0]) > 0.999
    assert info["overlap"] == pytest.approx(subspace_overlap(other[0], other[1]), abs=1e-3)
    big = hessian_directions(G, layer, 3, n_z=32, overlap=True, **common)[2]
    assert 0 <= info["overlap"] < big["overlap"] <= 1


def test_cli_discover_hessian_reports_the_overlap_every_time(tmp_path, tiny_file, capsys):
    import json

    from steerlab.cli import main
    args = ["discover", "--model", str(tiny_file), "--method", "hessian", "--layer", "conv3.weight", "--k", "2",
            "--n-z", "2", "--shift", "1", "--analyze", "", "--stable-overlap", "0"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert 0 <= m["hessian_overlap"] <= 1 and m["solver"]["overlap_seconds"] > 0
    assert f"subspace overlap of two disjoint batches of 2 z: top-2 {m['hessian_overlap']:.3f}" in capsys.readouterr().out
    assert main([*args, "--no-overlap", "--out", str(tmp_path / "b")]) == 0
    assert "hessian_overlap" not in json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert "subspace overlap" not in capsys.readouterr().out


def test_gauss_newton_products_equal_double_backward_ones_on_stlpips():
    G = make_tiny(width=2)
    z = G.sample_z(3, generator=torch.Generator().manual_seed(0))
    v = torch.randn(3, *G.conv3.weight.shape, generator=torch.Generator().manual_seed(1))
    gn = LayerHessian(G, "conv3.weight", z, hvp="gauss-newton")      # ST-LPIPS alex
    db = LayerHessian(G, "conv3.weight", z, hvp="double-backward")
    a, b = torch.cat([gn.hvp(v[:2]), gn.hvp(v[2:])]), torch.cat([db.hvp(v[:2]), db.hvp(v[2:])])
    assert float((a - b).norm() / b.norm()) < 1e-4 and float(b.norm()) > 0
    assert gn.hvps == db.hvps == 3 and gn.passes == db.passes == 1 + 3
    with pytest.raises(ValueError, match="unknown Hessian-vector product 'fd'; allowed: gauss-newton, double-backward"):
        LayerHessian(G, "conv3.weight", z, hvp="fd")
