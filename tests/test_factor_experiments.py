"""Plumerault et al. Figs. 2, 4, 6-7 as reproductions: the hierarchical-z model, the per-part norms,
the shared-direction, latent-parts and inversion-losses experiments on tiny models with known answers."""
import json
import math

import numpy as np
import pytest
import torch

from steerlab.directions import Direction
from steerlab.evaluation.trajectories import norm_per_part
from steerlab.models import HierarchicalGenerator, load_generator, save_generator, wrap_generator

U_STAR = torch.tensor([0.6, 0.8, 0.0, 0.0])  # the blob's x direction in part 0 for most classes
V_STAR = torch.tensor([0.0, 0.0, 0.8, -0.6])  # orthogonal: the x direction of the odd class out


class ClassBlob(torch.nn.Module):
    """A bright blob on a dark background at x = 0.5 + 0.2 <a_c, z[:4]>, where a_c is U_STAR for
    every class but the last, whose x follows V_STAR; z[4:] sets a faint background pattern."""

    latent_parts = (4, 4)

    def __init__(self, res=16, classes=4):
        super().__init__()
        a = U_STAR.repeat(classes, 1)
        a[-1] = V_STAR
        self.register_buffer("a", a)
        self.register_buffer("grid", (torch.arange(res) + 0.5) / res)

    def forward(self, z, classes):
        x0 = (0.5 + 0.2 * (z[:, :4] * self.a[classes]).sum(1))[:, None, None]
        g = self.grid
        r2 = (g[None, None, :] - x0) ** 2 + (g[None, :, None] - 0.5) ** 2
        bg = 0.1 + 0.02 * torch.tanh(z[:, 4:5, None]) * torch.cos(math.pi * g)[None, None, :]
        return (bg + 0.85 * torch.exp(-r2 / 0.01))[:, None].expand(-1, 3, -1, -1)


def class_blob():
    G = wrap_generator(ClassBlob(), z_dim=8, resolution=16, num_classes=4, output_range=(0, 1), name="classblob")
    G.latent_parts = ClassBlob.latent_parts
    return G


# --------------------------------------------------------------------------- Fig. 4: the parts
def test_norm_per_part_sums_to_the_squared_norm():
    u = 3 * torch.randn(12, generator=torch.Generator().manual_seed(0))
    norms = norm_per_part(u, (4, 4, 4))
    assert sum(norms) == pytest.approx(float(u.double().pow(2).sum()), rel=1e-12)
    assert norms[1] == pytest.approx(float(u[4:8].double().pow(2).sum()), rel=1e-12)
    for bad in ((4, 4), (6, 6, 0), (12, 4)):
        with pytest.raises(ValueError, match="summing to"):
            norm_per_part(u, bad)


def _level_inputs(G, z, classes):
    """What enters the input layer and each up-sampling block's convolution for codes z."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone())) for m in [G.fc, *G.norms]]
    G.synthesize(z, classes=classes)
    for h in hooks:
        h.remove()
    return seen


def test_hierarchical_z_parts_feed_only_their_own_level(tmp_path):
    G = HierarchicalGenerator(z_dim=12, resolution=16, width=8, num_classes=3, name="h").eval()
    assert G.latent_parts == (4, 4, 4)
    z, cls = torch.randn(5, 12, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 0, 1])
    base = _level_inputs(G, z, cls)  # [fc, block 1's norm, block 2's norm]
    for part in range(3):
        moved = z.clone()
        moved[:, 4 * part:4 * part + 4] += 1.0
        out = _level_inputs(G, moved, cls)
        changed = [not torch.allclose(a, b) for a, b in zip(base, out)]
        # part p reaches level p first: the levels before it see exactly what they saw
        assert changed == [i >= part for i in range(3)], (part, changed)
    images = G.synthesize(z, classes=cls)
    assert images.shape == (5, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
    save_generator(G, tmp_path / "h")
    G2 = load_generator(tmp_path / "h.safetensors")
    assert G2.fingerprint == G.fingerprint and torch.equal(G2.synthesize(z, classes=cls), images)
    for bad in (dict(z_dim=10, resolution=16), dict(z_dim=12, resolution=24)):
        with pytest.raises(ValueError, match="z_dim|resolution"):
            HierarchicalGenerator(**bad)


def test_latent_parts_finds_the_part_that_moves_the_object(tmp_path):
    from steerlab.reproduce.latent_parts import reproduce_latent_parts
    G = class_blob()
    run = reproduce_latent_parts(tmp_path / "lp", model=G, edits=("shift_x",), n_trajectories=4, T=0.15, n_steps=2,
                                 steps_per_target=30, fit_steps=60, n_eval=8, progress=False)
    m = json.loads((tmp_path / "lp" / "metrics.json").read_text())
    e = m["edits"]["shift_x"]
    u = Direction.load(tmp_path / "lp" / "directions" / "shift_x.safetensors", model=G).tensors["u"].double()
    assert sum(e["norm_per_part"]) == pytest.approx(float(u.pow(2).sum()), rel=1e-6)  # = ||u||^2
    assert e["norm_per_part"][0] == pytest.approx(float(u[:4].pow(2).sum()), rel=1e-6)
    assert e["largest_part"] == 0 and e["norm_per_part"][0] > 0.8  # x lives in part 0 only
    assert sum(m["random_direction"]) == pytest.approx(1.0)
    assert e["change"]["asked_way"] > 0.8 and e["change"]["median"] > 0.05  # and moving along u moves it
    assert (tmp_path / "lp" / "parts.png").is_file() and "shift_x" in run["summary"]


# --------------------------------------------------------------------------- Fig. 2: shared direction
def test_shared_direction_transfers_only_where_the_factor_is_shared(tmp_path):
    from steerlab.reproduce.shared_direction import reproduce_shared_direction
    G = class_blob()
    run = reproduce_shared_direction(tmp_path / "sd", model=G, measure="pixels:x", train_classes=(0, 1),
                                     n_trajectories=4, T=0.15, n_steps=2, steps_per_target=30, fit_steps=60, n_eval=8,
                                     n_s=3, progress=False)
    m = run["metrics"]
    assert m["train_classes"] == ["0", "1"] and m["heldout_classes"] == ["2", "3"]
    held = m["tests"]["shared_heldout"]
    # class 2 shares the trained classes' x direction: every sample moves right along the shared u
    assert held["2"]["change"]["asked_way"] == 1.0 and held["2"]["change"]["median"] > 0.1
    # class 3's x follows an orthogonal direction: the shared u barely moves it
    assert abs(held["3"]["change"]["median"]) < 0.4 * held["2"]["change"]["median"]
    for k in ("0", "1"):
        assert m["fit"][k]["cos_shared"] > 0.5  # 4 trajectories in 8-d: near the shared axis, not on it
        assert m["tests"]["per_class"][k]["change"]["asked_way"] == 1.0
    pooled = m["pooled"]["shared_heldout"]
    assert pooled["n"] == 16 and pooled["class_median_min"] == pytest.approx(held["3"]["change"]["median"])
    assert (tmp_path / "sd" / "effects.png").is_file() and (tmp_path / "sd" / "strip_heldout.png").is_file()
    with pytest.raises(ValueError, match="train_classes"):
        reproduce_shared_direction(tmp_path / "bad", model=G, train_classes=(0, 1, 2, 3), progress=False)


# --------------------------------------------------------------------------- Figs. 6-7: inversion losses
def test_inversion_losses_ball_and_yardsticks(tmp_path):
    from steerlab.models import DCGANGenerator
    from steerlab.reproduce.inversion_losses import reproduce_inversion_losses
    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=8, resolution=16, width=8, name="tiny").eval()
    run = reproduce_inversion_losses(tmp_path / "il", model=G, n_images=3, steps=15, lr=0.3, sigmas=(1.0, 3.0),
                                     n_show=2, progress=False)
    m = run["metrics"]
    assert "G(z)" in m["targets"]  # no data set: held-out G(z) are the targets
    r = m["results"]
    assert set(r) == {f"{loss}, {c}" for loss in ("mse", "dssim", "blurred sigma 1", "blurred sigma 3")
                      for c in ("ball", "free")}
    for key, v in r.items():
        assert len(v["stlpips"]) == 3 and min(v["pixel_mse"]) >= 0
        if v["ball"]:
            assert max(v["z_norm_ratio"]) <= 1 + 1e-5  # Eq. 2 holds for every image
    assert max(max(v["z_norm_ratio"]) for v in r.values() if not v["ball"]) > 1.0  # Eq. 1 leaves the ball
    p = m["paired"]["blurred3_vs_mse"]["pixel_mse"]
    diff = np.array(r["blurred sigma 3, ball"]["pixel_mse"]) - np.array(r["mse, ball"]["pixel_mse"])
    assert p["median"] == pytest.approx(float(np.median(diff))) and p["n"] == 3
    with pytest.raises(ValueError, match="sigmas"):
        reproduce_inversion_losses(tmp_path / "bad", model=G, sigmas=(1.0, 5.0), progress=False)
