"""Jahanian et al. App. B.6: the composite zoom + shift edit and its joint walk, segmented colour
targets, the object mask, and the two reproductions on tiny models."""
import json

import pytest
import torch

from steerlab.attributes.objects import measure_box, object_mask
from steerlab.directions.combine import steer
from steerlab.edits import get_edit, shift_x, zoom, zoom_shift
from steerlab.edits.segmented import segmented_edit
from steerlab.methods.walks.joint import learn_joint_walk


def _scene(n=2, size=32, line=True):
    """Row-uniform sky/ground, a square object at columns 12-19, rows 10-17, and a 1-px line."""
    x = torch.zeros(n, 3, size, size)
    x[:, 2, : size // 2] = 0.8  # sky
    x[:, 1, size // 2:] = 0.5  # ground
    x[:, :, 10:18, 12:20] = torch.tensor([0.9, 0.2, 0.1])[:, None, None]
    if line:
        x[:, :, 25, 0:30] = 1.0  # a one-pixel line across the ground
    return x


def test_zoom_shift_is_zoom_then_shift_where_both_are_defined():
    x = torch.rand(3, 3, 32, 32)
    f, dx = torch.tensor([2.0, 1.0, 0.5]), torch.tensor([0.25, -0.125, 0.0])  # whole-pixel shifts: exact
    t1, m1 = zoom(x, f)
    t2, m2 = shift_x(t1, dx)
    moved_mask, _ = shift_x(m1.expand(-1, 3, -1, -1), dx)
    both = (m2 * (moved_mask[:, :1] > 0.999)).bool()
    got, mask = zoom_shift(x, torch.stack([f, dx, torch.zeros(3)], 1))
    assert torch.equal(mask.bool() & both, both)  # defined wherever the two-step edit is
    assert torch.allclose(got.expand_as(t2)[both.expand_as(t2)], t2[both.expand_as(t2)], atol=1e-5)


def test_zoom_shift_refuses_bad_alphas():
    with pytest.raises(ValueError, match="zoom factors must be > 0"):
        zoom_shift(torch.rand(1, 3, 8, 8), torch.tensor([[0.0, 0.1, 0.0]]))
    with pytest.raises(ValueError, match="one per image"):
        zoom_shift(torch.rand(2, 3, 8, 8), torch.tensor([[1.0, 0.1, 0.0]]))


def test_object_mask_finds_the_object_and_drops_a_thin_line():
    x = _scene()
    m = object_mask(x, grow=0)
    assert m.shape == (2, 1, 32, 32)
    assert m[0, 0, 10:18, 12:20].all() and m.sum() == 2 * 64  # the square exactly, not the line
    assert object_mask(x, grow=1)[0, 0].sum() == 10 * 10
    box = measure_box(x[:, :, :24])  # without the line the box is the square's
    assert torch.allclose(box["x"], torch.full((2,), 16 / 32), atol=0.02)
    with pytest.raises(ValueError, match="grow must be >= 0"):
        object_mask(x, grow=-1)


def test_segmented_colour_edits_the_region_and_keeps_the_rest():
    x = _scene(line=False)
    e = segmented_edit(get_edit("color"), lambda im: object_mask(im, grow=0))
    target, mask = e(x, [0.0, 0.0, 0.5])
    inside = object_mask(x, grow=0).bool().expand_as(x)
    assert torch.equal(target[~inside], x[~inside])
    assert torch.allclose(target[:, 2][inside[:, 2]], x[:, 2][inside[:, 2]] + 0.5)
    assert mask.all() and e.name == "color-segmented" and e.alpha_range == get_edit("color").alpha_range
    with pytest.raises(ValueError, match="moves pixels"):
        segmented_edit(get_edit("shift_x"), lambda im: im[:, :1])


def test_joint_walk_learns_both_components_and_renders_through_steer(blob):
    # The blob (x = 0.5 + 0.12 z0, y = 0.5 + 0.12 z1) can move but not grow: a joint shift_x + shift_y walk
    # must move it right for +x and down for +y. With the masked L2 it learns to hide the blob in the
    # border the target exposes instead (w0 = -11.8 at lr 0.5), the blurred loss steers it.
    dx, dy = learn_joint_walk(blob, ("shift_x", "shift_y"), steps=40, batch_size=16, lr=0.2, loss="blurred", seed=1,
                              progress=False)
    assert (dx.edit, dy.edit) == ("shift_x", "shift_y") and dx.config["joint"] == ["shift_x", "shift_y"]
    curve = dx.metrics["loss_curve"]
    assert sum(curve[-5:]) < sum(curve[:5])
    z = blob.sample_z(32, generator=torch.Generator().manual_seed(5))
    b0 = measure_box(blob.synthesize(z))
    for alphas, key in (((0.25, 0.0), "x"), ((0.0, 0.25), "y")):
        b1 = measure_box(steer(blob, [(dx, alphas[0]), (dy, alphas[1])], z))
        moved = (b1[key] - b0[key])[torch.isfinite(b1[key] - b0[key])]
        assert (moved > 0).float().mean() > 0.8 and moved.median() > 0.05, (key, moved)
    w_sum = 0.25 * dx.tensors["w"][0] - 0.125 * dy.tensors["w"][0]
    assert torch.allclose(steer(blob, [(dx, 0.25), (dy, -0.125)], z), blob.synthesize(z + w_sum), atol=1e-5)
    with pytest.raises(ValueError, match="2 or 3 distinct edits"):
        learn_joint_walk(blob, ("zoom", "rotate2d"), steps=1)


def test_reproduce_zoom_shift_smoke(tmp_path, tiny_file):
    from steerlab.reproduce import get_reproduction

    r = get_reproduction("zoom-shift")(tmp_path / "zs", model=str(tiny_file), walk_steps=2, batch_size=4, n_eval=6,
                                       zooms=(0.5, 1.0, 2.0), shifts=(0.0, 0.25), progress=False)
    m = json.loads((tmp_path / "zs" / "metrics.json").read_text())
    assert r["summary"] == m["summary"] and set(m["pairs"]) == {"joint", "separate"}
    for kind in ("joint", "separate"):
        pairs = {(p["zoom"], p["shift"]): p for p in m["pairs"][kind]}
        assert len(pairs) == 6
        ident = pairs[(1.0, 0.0)]
        if ident["x"]["n_paired"]:  # at (x1, 0) the walk renders G(z) itself: nothing moves
            assert ident["x"]["median"] == 0 and ident["area"]["median"] == 0
        assert pairs[(2.0, 0.25)]["asked_area_ratio"] == 4.0 and pairs[(2.0, 0.25)]["area"]["n"] == 6
    for name in ("grid_0.png", "grid_1.png", "per_pair.png", "report.html", "walks/joint-zoom.safetensors"):
        assert (tmp_path / "zs" / name).is_file()
    with pytest.raises(ValueError, match="needs 1 and at least one other"):
        get_reproduction("zoom-shift")(tmp_path / "bad", model=str(tiny_file), zooms=(0.5, 2.0), progress=False)


def test_reproduce_segmented_colour_smoke(tmp_path, tiny_file):
    from steerlab.reproduce import get_reproduction

    get_reproduction("segmented-colour")(tmp_path / "sc", model=str(tiny_file), walk_steps=2, batch_size=4,
                                         n_eval=6, progress=False)
    m = json.loads((tmp_path / "sc" / "metrics.json").read_text())
    target = m["walks"]["target"]["red"]["+"]
    if target["inside"]["n_paired"]:  # the target changes the object only, and only the asked way
        assert target["outside"]["median"] == 0 and target["localisation_median"] == 1.0
        assert target["inside"]["asked_way"] + target["inside"]["decreased"] <= 1
    assert set(m["walks"]) == {"segmented", "whole", "target"} and m["n_eval"] == 6
    assert {"segmented", "whole"} == set(m["final_loss"])
    assert (tmp_path / "sc" / "walks" / "segmented.safetensors").is_file()
    with pytest.raises(ValueError, match="alpha must be in"):
        get_reproduction("segmented-colour")(tmp_path / "bad", model=str(tiny_file), alpha=0.9, progress=False)


def test_face_mask_is_the_face_box_and_segment_is_checked(tmp_path, tiny_file):
    import skimage.data

    from steerlab.attributes.faces import face_mask, measure_face_box
    from steerlab.reproduce import get_reproduction

    faces = torch.from_numpy(skimage.data.lfw_subset()[:4]).float()[:, None]  # (4, 1, 25, 25)
    box, m = measure_face_box(faces), face_mask(faces)
    side = torch.clamp(box["width"], max=1.0)  # the box is clipped to the frame
    assert torch.allclose(m.mean(dim=(1, 2, 3)), side * side, atol=0.12)
    assert not face_mask(torch.zeros(2, 3, 25, 25)).any()  # no face, empty region
    with pytest.raises(ValueError, match="segment must be one of object, face"):
        get_reproduction("segmented-colour")(tmp_path / "bad", model=str(tiny_file), segment="sky", progress=False)
