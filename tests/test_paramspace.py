"""Parameter-space navigation (Cherepkov et al.): shifts, SVD, Hessian solvers, Eq. 1, inspection, CLI."""
import copy
import json

import pytest
import torch

from helpers import make_tiny
from steerlab.cli import main
from steerlab.core.io import FileFormatError
from steerlab.directions import Direction, DirectionMismatch
from steerlab.directions.ops import ShiftRenderer
from steerlab.evaluation import weights as insp
from steerlab.methods.paramspace.hessian import (
    LayerHessian,
    dense_hessian,
    lanczos_topk,
    power_iteration_fd,
    subspace_overlap,
)
from steerlab.methods.paramspace.hybrid import hybrid_directions
from steerlab.methods.paramspace.reconstructor import Reconstructor, ReconstructorConfig, learn_directions
from steerlab.methods.paramspace.shifts import layer_table, render_shifted, render_shifts, weight_direction
from steerlab.methods.paramspace.svd import SVDBasis, svd_directions


@pytest.fixture(autouse=True)
def _one_thread():
    # The suite shares 2 cores with other jobs; one thread avoids OpenMP oversubscription stalls.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def z_of(G, n, seed=0):
    return G.sample_z(n, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- shifts
def test_layer_table_lists_every_conv_weight_with_its_svd_shape(tiny):
    rows = {r["name"]: r for r in layer_table(tiny)}
    assert set(rows) == {"conv1.weight", "conv2.weight", "conv3.weight"}
    assert rows["conv3.weight"]["shape"] == [8, 3, 4, 4]
    assert rows["conv3.weight"]["matrix"] == [8, 48] and rows["conv3.weight"]["singular_values"] == 8
    assert rows["conv2.weight"]["params"] == 16 * 8 * 16


def test_shifted_render_equals_a_mutated_copy_and_leaves_the_model_alone(tiny):
    z = z_of(tiny, 3)
    shift = 0.3 * torch.randn(8, 3, 4, 4)
    before = tiny.fingerprint
    out = render_shifted(tiny, z, "conv3.weight", shift)
    other = copy.deepcopy(tiny)
    with torch.no_grad():
        other.conv3.weight += shift
    assert torch.allclose(out, other.synthesize(z), atol=1e-6)
    assert tiny.fingerprint == before
    assert not torch.allclose(out, tiny.synthesize(z), atol=1e-3)


def test_per_sample_shifts_match_one_call_per_sample(tiny):
    z = z_of(tiny, 4)
    shifts = 0.3 * torch.randn(4, 16, 8, 4, 4)
    out = render_shifted(tiny, z, "conv2.weight", shifts)  # vmap path
    ref = torch.cat([render_shifted(tiny, z[i:i + 1], "conv2.weight", shifts[i]) for i in range(4)])
    assert torch.allclose(out, ref, atol=1e-5)
    grid = render_shifts(tiny, z[:2], "conv2.weight", shifts[:3])
    assert grid.shape == (3, 2, 3, 16, 16)
    assert torch.allclose(grid[2, 1], render_shifted(tiny, z[1:2], "conv2.weight", shifts[2])[0], atol=1e-5)


@pytest.mark.parametrize("layer", ["conv1.weight", "conv2.weight", "conv3.weight"])
def test_shift_renderer_matches_render_shifted_without_running_the_layer(tiny, layer, monkeypatch):
    z = z_of(tiny, 5)
    r = ShiftRenderer(tiny, layer, z)
    assert r.fast and torch.equal(r.base, tiny.synthesize(z))
    module = tiny.get_submodule(layer.rsplit(".", 1)[0])
    xi, other = torch.randn_like(module.weight), torch.randn_like(module.weight)
    r(xi, 1.0)  # M(h; xi) is computed once per direction, here
    calls, forward = [], torch.nn.ConvTranspose2d.forward
    monkeypatch.setattr(torch.nn.ConvTranspose2d, "forward",
                        lambda self, *a, **k: calls.append(self is module) or forward(self, *a, **k))
    got = [r(xi, t) for t in (-2.0, 0.0, 0.7)]
    assert calls and not any(calls)  # the other layers ran, the shifted one never did
    got += [r(other, t) for t in (-2.0, 0.0, 0.7)]
    monkeypatch.undo()
    want = [render_shifted(tiny, z, layer, t * d) for d in (xi, other) for t in (-2.0, 0.0, 0.7)]
    for a, b in zip(got, want):
        assert torch.allclose(a, b, atol=1e-5)
    assert torch.equal(got[1], r.base) and not torch.allclose(got[0], got[3], atol=1e-3)
    assert "forward" not in vars(module)  # the module is left as it was


def test_shift_renderer_falls_back_where_the_output_is_not_linear_in_the_weight():
    from steerlab.models import StyleGAN2Generator
    torch.manual_seed(0)
    G = StyleGAN2Generator(resolution=8, z_dim=8, w_dim=8, n_mlp=2, channels=[8, 8], name="tiny-sg2").eval()
    layer = next(name for name in G.shiftable_weights() if "mapping" not in name)
    z = z_of(G, 3)
    r = ShiftRenderer(G, layer, z)
    xi = torch.randn_like(G.shiftable_weights()[layer])
    assert not r.fast  # a modulated convolution: weight -> demodulated weight is not linear
    assert torch.allclose(r(xi, 0.5), render_shifted(G, z, layer, 0.5 * xi), atol=1e-6)


def test_shift_renderer_falls_back_for_a_module_called_twice():
    class Twice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, z):
            return torch.sigmoid(self.lin(torch.tanh(self.lin(z)))).view(-1, 1, 2, 2)

    from steerlab.models import wrap_generator
    G = wrap_generator(Twice(), z_dim=4, resolution=2, channels=1, output_range=(0, 1), name="twice")
    z = z_of(G, 3)
    layer = next(iter(G.shiftable_weights()))
    r = ShiftRenderer(G, layer, z)
    xi = torch.randn(4, 4)
    assert not r.fast
    assert torch.allclose(r(xi, 0.3), render_shifted(G, z, layer, 0.3 * xi), atol=1e-6)


def test_shifted_render_is_differentiable_in_the_shift(tiny):
    z = z_of(tiny, 2)
    v = torch.randn(8, 3, 4, 4)
    s = torch.zeros(8, 3, 4, 4, requires_grad=True)
    f = lambda a: render_shifted(tiny, z, "conv3.weight", a).pow(2).sum()  # noqa: E731
    (g,) = torch.autograd.grad(f(s), s)
    h = 1e-2
    fd = (f(h * v) - f(-h * v)) / (2 * h)
    assert torch.isclose((g * v).sum(), fd, rtol=2e-2)


def test_bad_layer_and_bad_shift_shape_are_one_line_errors(tiny):
    z = z_of(tiny, 2)
    with pytest.raises(ValueError, match="unknown layer 'conv9.weight'.*allowed: conv1.weight"):
        render_shifted(tiny, z, "conv9.weight", torch.zeros(1))
    with pytest.raises(ValueError, match="must have shape"):
        render_shifted(tiny, z, "conv3.weight", torch.zeros(3, 8, 3, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        render_shifted(tiny, z, "conv3.weight", torch.full((2, 8, 3, 4, 4), float("nan")))


# ----------------------------------------------------------------------------- SVD
def test_svd_direction_moves_exactly_one_singular_value(tiny):
    W = tiny.conv2.weight
    dirs, sigma = svd_directions(W, 4)
    flat = dirs.reshape(4, -1)
    assert torch.allclose(flat @ flat.T, torch.eye(4), atol=1e-5)
    s0 = torch.linalg.svdvals(W.reshape(16, -1))
    assert torch.allclose(sigma, s0[:4], atol=1e-5)
    s1 = torch.linalg.svdvals((W + 0.25 * dirs[2]).reshape(16, -1))
    expect = s0.clone()
    expect[2] += 0.25
    assert torch.allclose(s1.sort(descending=True).values, expect.sort(descending=True).values, atol=1e-4)


def test_svd_basis_is_an_isometry(tiny):
    b = SVDBasis(tiny.conv2.weight)
    x = torch.randn(5, b.dim)
    assert torch.allclose(b(x).flatten(1).norm(dim=1), x.norm(dim=1), rtol=1e-4)
    with pytest.raises(ValueError, match="k must be in"):
        svd_directions(tiny.conv3.weight, 9)


# ----------------------------------------------------------------------------- the Direction
def test_weight_direction_saves_loads_renders_and_refuses_other_models(tmp_path, tiny):
    xi = torch.randn(8, 3, 4, 4)
    d = weight_direction(tiny, "conv3.weight", xi, limit=2.0, method="svd", index=3)
    assert abs(float(d.tensors["xi"].norm()) - 1) < 1e-5
    d.save(tmp_path / "w")
    back = Direction.load(tmp_path / "w.safetensors", model=tiny)
    assert (back.kind, back.space, back.config["layer"], back.config["index"]) == ("weight", "weight", "conv3.weight", 3)
    z = z_of(tiny, 3)
    assert torch.equal(back.render(tiny, z, 0.0), tiny.synthesize(z))
    want = render_shifted(tiny, z, "conv3.weight", 1.5 * back.tensors["xi"])
    assert torch.allclose(back.render(tiny, z, 1.5), want, atol=1e-6)
    per = back.render(tiny, z, [-1.0, 0.0, 1.0])  # one magnitude per sample
    assert torch.allclose(per[1], tiny.synthesize(z[1:2])[0], atol=1e-6)
    assert torch.allclose(per[2], back.render(tiny, z[2:3], 1.0)[0], atol=1e-5)
    for bad in (2.5, float("nan")):
        with pytest.raises(ValueError):
            back.render(tiny, z, bad)
    with pytest.raises(DirectionMismatch):
        Direction.load(tmp_path / "w.safetensors", model=make_tiny(seed=1))
    wide = make_tiny(width=16)
    with pytest.raises(ValueError, match="does not fit"):
        back.render(wide, z_of(wide, 1), 1.0, force=True)


def test_apply_renders_a_weight_direction_file(tmp_path, tiny_file):
    import steerlab
    from steerlab.models import load_model
    G = load_model(str(tiny_file))
    d = weight_direction(G, "conv2.weight", torch.randn(16, 8, 4, 4), limit=1.0, method="hessian", index=0)
    path = d.save(tmp_path / "d")
    images = steerlab.apply(path, model=str(tiny_file), seeds=[0, 1], alphas=[-1, 0, 1])
    assert images.shape == (2, 3, 3, 16, 16)
    z0 = G.sample_z(1, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(images[0, 1], G.synthesize(z0)[0], atol=1e-6)
    assert not torch.allclose(images[0, 0], images[0, 2], atol=1e-3)


# ----------------------------------------------------------------------------- Hessian solvers
def test_lanczos_finds_the_top_eigenpairs_of_a_known_matrix():
    g = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.randn(200, 200, generator=g, dtype=torch.float64))[0]
    lam = torch.cat([torch.tensor([10.0, 9.0, 8.5, 8.0, 6.0, 5.5, 5.0, 4.0]), torch.rand(192, generator=g) * 3])
    A = (q * lam.double()) @ q.T
    vals, vecs, info = lanczos_topk(lambda x: (x.double() @ A).float(), 200, 8, block=4, tol=1e-4, generator=g)
    assert info["converged"] and info["matvecs"] < 200
    assert torch.allclose(vals.double(), lam[:8].double(), rtol=1e-4)
    assert subspace_overlap(vecs, q[:, :8].T) > 0.9999


def test_fd_power_iteration_recovers_a_quadratic_spectrum():
    g = torch.Generator().manual_seed(1)
    q = torch.linalg.qr(torch.randn(30, 30, generator=g))[0]
    lam = torch.tensor([5.0, 2.0, 1.0] + [0.1] * 27)
    A = (q * lam) @ q.T
    vals, vecs = power_iteration_fd(lambda a: (A @ a.flatten()).reshape(a.shape), (5, 6), 3, iters=40,
                                    eps=0.1, generator=g)
    assert torch.allclose(vals, lam[:3], rtol=1e-3)
    assert subspace_overlap(vecs, q[:, :3].T) > 0.999


def test_exact_hvp_matches_finite_differences_and_hessian_is_psd(tiny):
    op = LayerHessian(tiny, "conv3.weight", z_of(tiny, 2))
    assert op.grad(torch.zeros(8, 3, 4, 4)).abs().max() < 1e-6  # d^2 is minimal at a = 0
    v = torch.randn(2, 8, 3, 4, 4)
    hv = op.hvp(v)
    h = 1e-3
    fd = (op.grad(h * v[0]) - op.grad(-h * v[0])) / (2 * h)
    assert (fd - hv[0]).norm() / hv[0].norm() < 0.05
    assert float((hv * v).flatten(1).sum(1).min()) > 0  # v^T H v > 0
    assert op.passes == 1 + 1 + 2 + 2 and op.hvps == 2 and op.grads == 3


def test_kept_first_order_graph_gives_the_same_products_for_fewer_passes(tiny):
    z, v = z_of(tiny, 4), torch.randn(3, 8, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    kept = LayerHessian(tiny, "conv3.weight", z)             # one chunk: the graph is built once
    rebuilt = LayerHessian(tiny, "conv3.weight", z, chunk=2, keep_graph=False)  # rebuilt every block
    a, b = torch.cat([kept.hvp(v[:2]), kept.hvp(v[2:])]), torch.cat([rebuilt.hvp(v[:2]), rebuilt.hvp(v[2:])])
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
    assert kept.passes == 1 + 3 and rebuilt.passes == (1 + 2) + (1 + 1)
    kept.reset()
    assert kept.passes == 0 and torch.allclose(kept.hvp(v[:1]), a[:1]) and kept.passes == 2


def test_lanczos_top8_matches_the_dense_hessian(tiny):
    # Pixel-L2 distance keeps this fast; the ST-LPIPS version is the slow test below.
    op = LayerHessian(tiny, "conv3.weight", z_of(tiny, 4), distance="l2")
    H = dense_hessian(op)
    ev, evec = torch.linalg.eigh(H)
    ev, evec = ev.flip(0), evec.flip(1)
    vals, vecs, info = lanczos_topk(op.matvec, op.dim, 8, block=4, tol=1e-3)
    assert info["converged"] and info["matvecs"] < op.dim
    assert float(((vals.double() - ev[:8]).abs() / ev[:8]).max()) < 1e-3
    assert subspace_overlap(vecs, evec[:, :8].T) > 0.999


@pytest.mark.slow
def test_lanczos_top8_matches_the_dense_stlpips_hessian():
    G = make_tiny(width=2)
    op = LayerHessian(G, "conv3.weight", z_of(G, 2))  # 96 parameters, ST-LPIPS alex
    H = dense_hessian(op)
    ev, evec = torch.linalg.eigh(H)
    ev, evec = ev.flip(0), evec.flip(1)
    vals, vecs, info = lanczos_topk(op.matvec, op.dim, 8, block=4, tol=1e-3)
    assert float(((vals.double() - ev[:8]).abs() / ev[:8]).max()) < 1e-3
    assert subspace_overlap(vecs, evec[:, :8].T) > 0.999


# ----------------------------------------------------------------------------- Eq. 1
def test_reconstructor_shapes():
    R = Reconstructor(k=5, input_size=32, width=8)
    logits, t = R(torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16))
    assert logits.shape == (3, 5) and t.shape == (3,)


def _cfg(**kw):
    return ReconstructorConfig(**({"k": 3, "limit": 1.0, "steps": 4, "batch_size": 4, "input_size": 16,
                                   "width": 4, "checkpoint_every": 2} | kw))


def test_learn_directions_resumes_bit_for_bit(tmp_path, tiny):
    basis = SVDBasis(tiny.conv2.weight)
    full, info = learn_directions(tiny, "conv2.weight", basis, _cfg(), progress=False)
    assert full.shape == (3, 16, 8, 4, 4)
    assert torch.allclose(full.flatten(1).norm(dim=1), torch.ones(3), atol=1e-5)
    assert len(info["history"]["loss"]) == 4 and 0 <= info["held_out_accuracy"] <= 1
    stem = tmp_path / "ck"
    learn_directions(tiny, "conv2.weight", basis, _cfg(steps=2), checkpoint=stem, progress=False)
    resumed, info2 = learn_directions(tiny, "conv2.weight", basis, _cfg(), checkpoint=stem, progress=False)
    assert torch.equal(resumed, full)
    assert info2["history"]["loss"] == info["history"]["loss"]
    with pytest.raises(FileFormatError, match="another configuration"):
        learn_directions(tiny, "conv2.weight", basis, _cfg(lam=1.0), checkpoint=stem, progress=False)


def test_hybrid_directions_stay_in_the_eigenvector_span(tiny):
    g = torch.Generator().manual_seed(0)
    eig = torch.linalg.qr(torch.randn(16 * 8 * 16, 4, generator=g))[0].T.reshape(4, 16, 8, 4, 4)
    dirs, info = hybrid_directions(tiny, "conv2.weight", eig, _cfg(steps=2), progress=False)
    flat, basis = dirs.reshape(3, -1), eig.reshape(4, -1)
    inside = flat @ basis.T @ basis
    assert torch.allclose(inside, flat, atol=1e-5)
    assert info["coords"].shape == (3, 4)


# ----------------------------------------------------------------------------- inspection
def test_calibrated_shift_reaches_the_target_change(tiny):
    xi = svd_directions(tiny.conv2.weight, 1)[0][0]
    z = z_of(tiny, 2)
    t = insp.calibrate_shift(tiny, "conv2.weight", xi, 0.1, z=z, iters=8)
    change = sum(insp.perceptual_change(tiny, "conv2.weight", xi, [t, -t], z=z)) / 2
    assert abs(change - 0.1) < 0.01
    assert insp.perceptual_change(tiny, "conv2.weight", xi, [0.0], z=z)[0] < 1e-6


def test_locality_heatmap_is_the_mean_squared_change(tiny):
    xi = svd_directions(tiny.conv3.weight, 1)[0][0]
    heat, conc = insp.locality_heatmap(tiny, "conv3.weight", xi, [0.5], n=4, seed=3)
    z = z_of(tiny, 4, seed=3)
    want = (render_shifted(tiny, z, "conv3.weight", 0.5 * xi) - tiny.synthesize(z)).pow(2).sum(1).mean(0)
    assert heat.shape == (16, 16) and torch.allclose(heat, want, atol=1e-6)
    assert 0.1 <= conc <= 1.0


def test_frechet_distance_agrees_with_torchmetrics_fid():
    from torchmetrics.image.fid import FrechetInceptionDistance

    from steerlab.metrics.fid import PrecomputedFeatures
    g = torch.Generator().manual_seed(0)
    a = torch.randn(60, 6, generator=g, dtype=torch.float64)
    b = torch.randn(50, 6, generator=g, dtype=torch.float64) * 1.5 + 0.3
    fid = FrechetInceptionDistance(feature=PrecomputedFeatures(6))
    fid.update(a.float(), real=True)
    fid.update(b.float(), real=False)
    assert insp.frechet_distance(a, b) == pytest.approx(float(fid.compute()), rel=1e-3)
    assert abs(insp.frechet_distance(a, a)) < 1e-6
    # Fewer samples than features (singular covariances): still exact, symmetric, zero for a set itself.
    x, y = torch.randn(10, 30, generator=g), torch.randn(12, 30, generator=g) + 0.5
    assert abs(insp.frechet_distance(x, x)) < 1e-9
    assert insp.frechet_distance(x, y) == pytest.approx(insp.frechet_distance(y, x), rel=1e-9)
    assert insp.frechet_distance(x, y) > 30 * 0.25 * 0.9


def test_latent_mimic_reproduces_a_latent_shift_control(tiny):
    xi = svd_directions(tiny.conv3.weight, 1)[0][0]
    for space in ("z", insp.ACTIVATION_SPACE):
        r = insp.latent_mimic(tiny, "conv3.weight", xi, 1.0, space=space, n=8, n_eval=8, steps=60, lr=0.05)
        assert r["do_nothing"] > 0 and r["control_do_nothing"] > 0
        assert r["control_ratio"] < 0.5, r  # a latent shift can undo a latent shift
        assert 0 <= r["ratio"]


def test_latent_mimic_runs_in_every_space_of_a_stylegan2():
    from steerlab.models import StyleGAN2Generator
    torch.manual_seed(0)
    G = StyleGAN2Generator(resolution=16, z_dim=16, w_dim=16, n_mlp=2, channels=[16, 16, 8]).eval()
    G.requires_grad_(False)
    layer = "synthesis.b8.conv0.conv.weight"
    assert layer in {r["name"] for r in layer_table(G)}
    xi = svd_directions(G.shiftable_weights()[layer], 1)[0][0]
    for space in (*G.latent_spaces, insp.ACTIVATION_SPACE):
        r = insp.latent_mimic(G, layer, xi, 2.0, space=space, n=4, n_eval=4, steps=30, lr=0.05)
        assert r["do_nothing"] > 0 and r["ratio"] >= 0 and r["control_ratio"] < 1, (space, r)


# ----------------------------------------------------------------------------- CLI
def test_cli_layers_discover_and_analyze(tmp_path, tiny_file, capsys):
    assert main(["layers", "--model", str(tiny_file)]) == 0
    text = capsys.readouterr().out
    assert "conv2.weight" in text and "16x8x4x4" in text
    out = tmp_path / "svd"
    code = main(["discover", "--model", str(tiny_file), "--method", "svd", "--layer", "conv2.weight",
                 "--k", "3", "--shift", "2", "--analyze", "", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    for name in ("directions/k00.safetensors", "directions/k02.json", "grid_k01.png", "overview.png",
                 "metrics.json", "report.html"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "svd" and len(m["directions"]) == 3
    assert m["singular_values"][0] >= m["singular_values"][2] > 0
    d = Direction.load(out / "directions" / "k01.safetensors")
    assert d.alpha.alpha_range == (-2.0, 2.0) and d.config["index"] == 1
    code = main(["analyze-weights", str(out), "--model", str(tiny_file), "--what", "locality",
                 "--out", str(tmp_path / "an")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "an" / "locality.png").is_file()
    am = json.loads((tmp_path / "an" / "metrics.json").read_text())
    assert all(0.1 <= r["locality_concentration"] <= 1 for r in am["directions"])


@pytest.mark.parametrize("args, msg", [
    (["--method", "pca", "--layer", "conv2.weight"], "unknown method 'pca'"),
    (["--method", "svd", "--layer", "conv7.weight"], "unknown layer 'conv7.weight'"),
    (["--method", "svd", "--layer", "conv2.weight", "--analyze", "beauty"], "unknown analysis"),
    (["--method", "svd", "--layer", "conv2.weight", "--shift", "nan"], "--shift: must be a finite number"),
])
def test_cli_discover_bad_input_exits_2(tmp_path, tiny_file, capsys, args, msg):
    code = main(["discover", "--model", str(tiny_file), "--out", str(tmp_path / "x"), *args])
    err = capsys.readouterr().err
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_weight_directions_are_evaluated_like_latent_ones(tiny):
    from steerlab.evaluation.steerability import steerability
    d = weight_direction(tiny, "conv2.weight", svd_directions(tiny.conv2.weight, 1)[0][0], limit=3.0,
                         method="svd", index=0)
    res = steerability(tiny, d, n=4, n_alphas=3, fid=False, progress=False)
    assert res["alphas"] == [-3.0, 0.0, 3.0] and res["kind"] == "weight"
    assert len(res["perceptual_steps"]) == 2 and min(res["perceptual_steps"]) > 0


@pytest.mark.parametrize("method", ["optimize", "hybrid"])
def test_cli_discover_learned_methods_write_directions_and_drop_the_checkpoint(tmp_path, tiny_file, capsys, method):
    out = tmp_path / method
    code = main(["discover", "--model", str(tiny_file), "--method", method, "--layer", "conv2.weight",
                 "--k", "2", "--shift", "1", "--steps", "2", "--batch-size", "2", "--n-z", "1",
                 "--analyze", "", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert m["train_limit"] == 1.0 and len(m["training"]["history"]["loss"]) == 2
    assert len(list((out / "directions").glob("k*.safetensors"))) == 2
    assert not list(tmp_path.glob(f".{method}.*"))  # the checkpoint is gone once the run is complete
