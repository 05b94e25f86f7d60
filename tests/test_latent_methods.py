"""The latent family (sefa, ganspace, boundary, latent-discovery): each method against a planted answer."""
from pathlib import Path

import pytest
import torch
from torch import nn

from steerlab.attributes import MEASURES, Measure, register_measure
from steerlab.directions import Direction
from steerlab.methods import METHODS, learn
from steerlab.models import StyleGAN2Generator, wrap_generator

LATENT = ("sefa", "ganspace", "boundary", "latent-discovery")


def _orthonormal(rows: int, dim: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(dim, rows, generator=torch.Generator().manual_seed(seed)))
    return q.T  # (rows, dim)


def _unit(w: torch.Tensor) -> torch.Tensor:
    w = w.reshape(-1)
    return w / w.norm()


def _tiny_sg2(seed: int = 0) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    return StyleGAN2Generator(resolution=8, z_dim=8, w_dim=8, n_mlp=2, channels=[8, 8], name="tiny-sg2").eval()


@pytest.fixture
def plugin_measures():
    """Two plugin measures of a toy image: its mean (``toy_mean:v``) and its top-left pixel (``toy_corner:v``)."""
    added = [register_measure(Measure("toy_mean", lambda x: {"v": x.mean(dim=(1, 2, 3))}, ("v",), "mean")),
             register_measure(Measure("toy_corner", lambda x: {"v": x[:, 0, 0, 0]}, ("v",), "corner"))]
    yield
    for m in added:
        MEASURES._entries.pop(m.name, None)


def test_the_latent_family_is_registered():
    assert {m.name for m in METHODS.values() if m.family == "latent"} >= set(LATENT)


def test_sefa_equals_the_dense_eigendecomposition_of_the_first_projection(tiny):
    [*dirs] = learn("sefa", tiny, k=4, progress=False)
    W = tiny.conv1.weight.detach()                              # (z_dim, C, 4, 4): z enters as a 1x1 input
    A = W.reshape(tiny.z_dim, -1).T.double()                    # (C * 16, z_dim)
    vals, vecs = torch.linalg.eigh(A.T @ A)
    order = torch.argsort(vals, descending=True)
    for i, d in enumerate(dirs):
        assert d.space == "z" and d.kind == "linear"
        cos = float(_unit(d.tensors["w"]).double() @ vecs[:, order[i]])
        assert abs(cos) > 1 - 1e-5, (i, cos)
        assert d.metrics["eigenvalue"] == pytest.approx(float(vals[order[i]]), rel=1e-4)


def test_sefa_on_stylegan_factorises_the_style_affines_of_the_layer_range():
    G = _tiny_sg2()
    [d0, d1] = learn("sefa", G, k=2, layers="0-1", progress=False)
    s = G.synthesis
    # rows 0 and 1: b4's conv1 (row 0), b4's torgb and b8's conv0 (both read row 1)
    affines = [s.b4.conv1.conv.affine, s.b4.torgb.conv.affine, s.b8.conv0.conv.affine]
    A = torch.cat([a.weight.detach() * a.gain for a in affines]).double()
    vals, vecs = torch.linalg.eigh(A.T @ A)
    top = vecs[:, torch.argsort(vals, descending=True)[:2]]
    for i, d in enumerate((d0, d1)):
        w = d.tensors["w"][0]                                   # (num_ws, w_dim)
        assert d.space == "w+" and d.config["layers"] == [0, 1]
        assert float(w[2:].abs().max()) == 0                    # rows outside the range stay put
        assert abs(float(_unit(w[0]).double() @ top[:, i])) > 1 - 1e-5
        assert torch.allclose(w[0], w[1])


def test_ganspace_recovers_a_planted_principal_axis():
    d = 6
    u = _orthonormal(1, d, 1)[0]
    B = _orthonormal(d, 48, 2).T                                # (48, d) orthonormal columns
    lin = nn.Linear(d, 48, bias=False)
    with torch.no_grad():
        lin.weight.copy_(B @ (torch.eye(d) + 3 * torch.outer(u, u)))  # features' variance: 16 along B u, 1 elsewhere
    G = wrap_generator(nn.Sequential(lin, nn.Tanh(), nn.Unflatten(1, (3, 4, 4))), z_dim=d, resolution=4, name="pca-toy")
    dirs = learn("ganspace", G, k=2, n_samples=2000, progress=False)
    assert abs(float(_unit(dirs[0].tensors["w"]) @ u)) > 0.98
    assert abs(float(_unit(dirs[1].tensors["w"]) @ u)) < 0.2   # the second component is another axis
    assert dirs[0].metrics["component_std"] > 3 * dirs[1].metrics["component_std"]


def test_ganspace_on_stylegan_is_the_pca_of_w():
    G = _tiny_sg2()
    [d] = learn("ganspace", G, k=1, n_samples=3000, seed=3, progress=False)
    w = G.to_space(G.sample_z(3000, generator=torch.Generator().manual_seed(11)), "w").detach()
    w = w - w.mean(0)
    vals, vecs = torch.linalg.eigh(w.T.double() @ w.double())
    assert d.space == "w" and abs(float(_unit(d.tensors["w"]).double() @ vecs[:, -1])) > 0.97


class _Planted(nn.Module):
    """A toy generator whose image brightness is sigmoid(2 <u, z>) (and whose corner pixel is sigmoid(2 <v, z>))."""

    def __init__(self, u, v):
        super().__init__()
        self.register_buffer("u", u)
        self.register_buffer("v", v)

    def forward(self, z):
        img = torch.sigmoid(2 * z @ self.u)[:, None, None, None].expand(-1, 3, 4, 4).clone()
        img[:, :, 0, 0] = torch.sigmoid(2 * z @ self.v)[:, None]
        return img


def test_boundary_recovers_a_planted_attribute_direction(plugin_measures):
    d = 8
    u, other = _orthonormal(2, d, 3)
    v = (0.6 * u + 0.8 * other)                                 # a second attribute partly along u
    G = wrap_generator(_Planted(u, v), z_dim=d, resolution=4, output_range=(0, 1), name="planted")
    [n] = learn("boundary", G, attribute="toy_mean:v", n_samples=600, progress=False)
    assert float(_unit(n.tensors["w"]) @ u) > 0.95            # and oriented toward a higher attribute
    assert n.metrics["held_out_accuracy"] > 0.9
    [c] = learn("boundary", G, attribute="toy_mean:v", condition="toy_corner:v", n_samples=600, progress=False)
    cu = _unit(c.tensors["w"])
    assert abs(float(cu @ _unit(v))) < 0.1                      # the condition's direction is projected out
    assert float(cu @ u) > 0.5 and "not toy_corner:v" in c.config["name"]


class _Regions(nn.Module):
    """A toy generator: <p_k, z> sets the brightness of region k (left / right half); other directions do nothing."""

    def __init__(self, planted):
        super().__init__()
        self.register_buffer("p", planted)

    def forward(self, z):
        a = torch.tanh(z @ self.p.T / 2)                        # (N, 2)
        img = torch.zeros(z.shape[0], 1, 8, 8)
        img[:, :, :, :4] = a[:, 0, None, None, None]
        img[:, :, :, 4:] = a[:, 1, None, None, None]
        return img


def test_latent_discovery_separates_planted_directions():
    planted = _orthonormal(2, 4, 5)                             # (2, 4): two effects, a 2-d null space
    G = wrap_generator(_Regions(planted), z_dim=4, resolution=8, channels=1, name="regions")
    start = (torch.eye(4)[:2] @ planted.T).norm(dim=1)          # the training starts near the first two axes
    assert bool((start < 0.55).all()), start
    dirs = learn("latent-discovery", G, k=2, steps=100, batch_size=16, lr=1e-2, lam=2.0, shift=3.0, width=8,
                 seed=0, progress=False)
    U = torch.stack([_unit(d.tensors["w"]) for d in dirs])     # (2, 4)
    inside = U @ planted.T                                      # coordinates in the planted span
    assert bool((inside.norm(dim=1) > 0.7).all()), inside       # both moved into it: no do-nothing direction
    assert abs(float(_unit(inside[0]) @ _unit(inside[1]))) < 0.5  # and they move the image differently
    assert dirs[0].metrics["held_out_accuracy"] > 0.9


def test_latent_directions_save_load_and_render(tiny, tmp_path):
    [d] = learn("sefa", tiny, k=1, progress=False)
    back = Direction.load(d.save(tmp_path / "s"), model=tiny)
    assert back.config["method"] == "sefa" and back.config["name"] == "sefa #0"
    z = tiny.sample_z(2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(back.render(tiny, z, 2.0), d.render(tiny, z, 2.0))
    assert not torch.allclose(d.render(tiny, z, 2.0), d.render(tiny, z, 0.0))
    assert float(d.tensors["w"].norm()) == pytest.approx(d.config["sigma"], rel=1e-5)  # alpha counts std devs


@pytest.mark.parametrize("name,options,message", [
    ("boundary", dict(attribute="nope:x"), "unknown measure 'nope'; allowed: .*box"),
    ("boundary", dict(attribute="box:width"), "measure 'box' has no attribute 'width'; allowed: x, y, area"),
    ("boundary", dict(attribute="box:x", condition="colour:hue"), "no attribute 'hue'"),
    ("sefa", dict(k=9), r"k must be a whole number in \[1, 8\]"),
    ("ganspace", dict(k=3, n_samples=2), r"k must be a whole number in \[1, 2\]"),
    ("sefa", dict(layers="0-3"), "model 'tiny' has no w\\+ rows"),
    ("ganspace", dict(feature_layer="conv9"), "model 'tiny' has no module 'conv9'; allowed: .*conv1"),
    ("latent-discovery", dict(k=1), "needs k >= 2"),
    ("latent-discovery", dict(space="w"), "has no latent space 'w'"),
])
def test_bad_input_is_refused_in_one_line(tiny, name, options, message):
    with pytest.raises(ValueError, match=message) as e:
        learn(name, tiny, progress=False, **options)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("layers", ["0-20", "5,99", "x-y"])
def test_stylegan_layer_ranges_out_of_bounds_are_refused(layers):
    G = _tiny_sg2()
    with pytest.raises(ValueError, match="outside the 4 w\\+ rows of model 'tiny-sg2' \\(allowed: 0-3\\)|w\\+ row range"):
        learn("sefa", G, layers=layers, progress=False)


FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("path", [pytest.param("nvlabs/sg2ada_cond_resnet.pkl", marks=pytest.mark.slow),
                                  "nvlabs/sg3_stylegan2.pkl",
                                  pytest.param("stylegan3/stylegan3_t.pkl", marks=pytest.mark.slow)])
def test_latent_methods_run_on_nvlabs_checkpoints(path):
    from steerlab.models import load_model
    G = load_model(str(FIXTURES / path))
    z = G.sample_z(2, generator=torch.Generator().manual_seed(0))
    c = G.sample_classes(2, generator=torch.Generator().manual_seed(0))
    for name, options in (("sefa", dict(k=2, layers="0-1")), ("ganspace", dict(k=2, n_samples=200)),
                          ("boundary", dict(attribute="colour:luminance", n_samples=64, space="w"))):
        for d in learn(name, G, progress=False, **options):
            assert d.space in ("w", "w+") and d.fingerprint == G.fingerprint
            moved, still = d.render(G, z, 2.0, classes=c), d.render(G, z, 0.0, classes=c)
            assert torch.isfinite(moved).all() and not torch.equal(moved, still)
