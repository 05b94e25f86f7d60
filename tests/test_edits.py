"""Tests for steerlab.edits: identities, exact masks, content motion, gradients, registry."""

import math

import pytest
import torch
import torch.nn.functional as TF

from steerlab.edits import (
    EDITS,
    Edit,
    brightness,
    color,
    contrast,
    get_edit,
    list_edits,
    register_edit,
    rotate2d,
    rotate3d,
    shift_x,
    shift_y,
    zoom,
)

ALL_NAMES = ["zoom", "shift_x", "shift_y", "rotate2d", "rotate3d", "color", "brightness", "contrast"]
# A clearly non-identity alpha_t per edit, inside every range.
STRONG = {
    "zoom": 0.6,
    "shift_x": 0.2,
    "shift_y": -0.2,
    "rotate2d": 30.0,
    "rotate3d": -30.0,
    "color": [0.2, -0.1, 0.15],
    "brightness": 0.15,
    "contrast": 1.5,
}


def _images(n=2, c=3, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g)


def _dot(h, w, y, x):
    img = torch.zeros(1, 1, h, w)
    img[0, 0, y, x] = 1.0
    return img


def _argmax_yx(img):
    idx = int(img[0, 0].flatten().argmax())
    return divmod(idx, img.shape[-1])


# ----------------------------------------------------------------------------- registry contents


def test_registry_has_the_paper_edits():
    assert sorted(EDITS) == sorted(ALL_NAMES)
    assert [e.name for e in list_edits()] == list(EDITS)
    assert get_edit("color").alpha_dim == 3
    assert get_edit("zoom").mapping == "log" and get_edit("contrast").mapping == "log"


# ----------------------------------------------------------------------------- identity


@pytest.mark.parametrize("name", ALL_NAMES)
def test_identity_alpha_is_identity_with_full_mask(name):
    edit = get_edit(name)
    x = _images()
    alpha = [edit.identity] * 3 if edit.alpha_dim == 3 else edit.identity
    target, mask = edit(x, alpha)
    assert target.shape == x.shape and mask.shape == (2, 1, 16, 16)
    assert mask.dtype == x.dtype
    torch.testing.assert_close(target, x, atol=1e-5, rtol=0)
    assert bool((mask == 1).all())


@pytest.mark.parametrize("name", ALL_NAMES)
def test_strong_alpha_changes_the_image_and_stays_in_range(name):
    x = _images()
    target, mask = get_edit(name)(x, STRONG[name])
    assert (target - x).abs().max() > 0.05
    assert target.min() >= 0 and target.max() <= 1
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert bool((target * (1 - mask) == 0).all())  # undefined pixels are exactly zero


@pytest.mark.parametrize("name", ALL_NAMES)
def test_batch_with_per_sample_alpha_matches_one_by_one(name):
    edit = get_edit(name)
    x = _images(n=3)
    alphas = edit.sample(3, generator=torch.Generator().manual_seed(1))
    target, mask = edit(x, alphas)
    for i in range(3):
        t_i, m_i = edit(x[i : i + 1], alphas[i : i + 1])
        torch.testing.assert_close(target[i : i + 1], t_i, atol=1e-5, rtol=0)  # blur kernel size follows the batch
        torch.testing.assert_close(mask[i : i + 1], m_i)


# ----------------------------------------------------------------------------- masks


@pytest.mark.parametrize("k", [1, 3, -2, -5])
def test_integer_shift_x_masks_exactly_k_columns(k):
    x = _images(h=12, w=16)
    target, mask = shift_x(x, torch.full((2,), k / 16))
    cols = mask[:, 0].amin(dim=1)  # (N, W): a column is valid iff all its pixels are
    assert bool((mask == cols[:, None, None, :]).all())  # the mask is whole columns
    expected = torch.ones(16)
    if k > 0:
        expected[:k] = 0
    else:
        expected[k:] = 0
    assert torch.equal(cols[0], expected) and torch.equal(cols[1], expected)
    # valid content is the input moved by exactly k columns
    rolled = torch.roll(x, shifts=k, dims=-1)
    torch.testing.assert_close(target * mask, rolled * mask, atol=1e-5, rtol=0)


@pytest.mark.parametrize("k", [2, -4])
def test_integer_shift_y_masks_exactly_k_rows(k):
    x = _images(h=16, w=12)
    target, mask = shift_y(x, torch.full((2,), k / 16))
    rows = mask[:, 0].amin(dim=2)  # (N, H)
    assert bool((mask == rows[:, None, :, None]).all())
    expected = torch.ones(16)
    if k > 0:
        expected[:k] = 0
    else:
        expected[k:] = 0
    assert torch.equal(rows[0], expected)
    torch.testing.assert_close(target * mask, torch.roll(x, shifts=k, dims=-2) * mask, atol=1e-5, rtol=0)


def test_subpixel_shift_masks_the_partially_covered_column():
    _, mask = shift_x(_images(n=1), torch.tensor([2.5 / 16]))
    assert mask[0, 0, 0].tolist() == [0.0] * 3 + [1.0] * 13


def test_zoom_out_by_half_leaves_a_centred_valid_block():
    x = _images(n=1)
    target, mask = zoom(x, torch.tensor([0.5]))
    ys, xs = torch.nonzero(mask[0, 0], as_tuple=True)
    assert len(ys) == int((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))  # a full rectangle
    for lo, hi in ((ys.min(), ys.max()), (xs.min(), xs.max())):
        assert abs(int(hi - lo + 1) - 8) <= 1  # 16 * 0.5
        assert abs(int(lo + hi) - 15) <= 1  # centred
    assert bool((target[..., mask[0, 0] == 0] == 0).all())


def test_zoom_in_mask_is_full():
    _, mask = zoom(_images(), torch.tensor([1.5, 4.0]))
    assert bool((mask == 1).all())


def test_rotate2d_45_masks_corners_keeps_inscribed_disc():
    _, mask = rotate2d(_images(n=1), torch.tensor([45.0]))
    m = mask[0, 0]
    for y, x in [(0, 0), (0, 15), (15, 0), (15, 15)]:
        assert m[y, x] == 0
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    inside = ((yy - 7.5) ** 2 + (xx - 7.5) ** 2).sqrt() <= 7.4
    assert bool((m[inside] == 1).all())
    assert 0 < (m == 0).sum() < 16 * 16 / 2


@pytest.mark.parametrize("angle", [30.0, -30.0])
def test_rotate3d_masks_sides_not_centre(angle):
    _, mask = rotate3d(_images(n=1), torch.tensor([angle]))
    m = mask[0, 0]
    assert bool((m[4:12, 4:12] == 1).all())
    masked_left, masked_right = int((m[:, :4] == 0).sum()), int((m[:, 12:] == 0).sum())
    assert masked_left + masked_right > 0
    # the edge turning away shrinks and exposes more background than the one turning closer
    receding, approaching = (masked_right, masked_left) if angle > 0 else (masked_left, masked_right)
    assert receding > approaching


# ----------------------------------------------------------------------------- content motion


def test_shift_moves_a_bright_pixel_the_right_way():
    dot = _dot(16, 16, y=5, x=6)
    assert _argmax_yx(shift_x(dot, torch.tensor([3 / 16]))[0]) == (5, 9)
    assert _argmax_yx(shift_x(dot, torch.tensor([-4 / 16]))[0]) == (5, 2)
    assert _argmax_yx(shift_y(dot, torch.tensor([2 / 16]))[0]) == (7, 6)
    assert _argmax_yx(shift_y(dot, torch.tensor([-3 / 16]))[0]) == (2, 6)


@pytest.mark.parametrize("angle", [45.0, -45.0])
def test_rotate2d_moves_a_pixel_counter_clockwise(angle):
    # 17x17: the centre is pixel (8, 8). A pixel 5 px right of it turns by `angle` degrees,
    # counter-clockwise on screen (y points down, so it goes up for a positive angle).
    dot = _dot(17, 17, y=8, x=13)
    target, _ = rotate2d(dot, torch.tensor([angle]))
    t = math.radians(angle)
    expected = (8 - 5 * math.sin(t), 8 + 5 * math.cos(t))
    y, x = _argmax_yx(target)
    assert abs(y - expected[0]) <= 1 and abs(x - expected[1]) <= 1


def test_rotate3d_keeps_the_centre_column_and_squeezes_the_receding_side():
    dot = _dot(17, 17, y=8, x=8)
    assert _argmax_yx(rotate3d(dot, torch.tensor([30.0]))[0]) == (8, 8)
    right = _dot(17, 17, y=8, x=14)
    y, x = _argmax_yx(rotate3d(right, torch.tensor([30.0]))[0])
    assert y == 8 and 8 < x < 14  # the right half recedes: its pixels move towards the centre


def test_zoom_in_by_two_is_centre_crop_resized():
    x = _images(n=1, h=16, w=16)
    target, _ = zoom(x, torch.tensor([2.0]))
    crop = x[..., 4:12, 4:12]
    expected = TF.interpolate(crop, size=(16, 16), mode="bilinear", align_corners=False)
    # the outermost ring differs only in how each resize extrapolates past the crop edge
    torch.testing.assert_close(target[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], atol=1e-5, rtol=0)


def test_zoom_out_is_anti_aliased():
    # A one-pixel checkerboard shrunk by 4 should average to grey. On 33x33 the centre is a
    # pixel, so without a blur every target pixel samples an even square and aliases to black.
    yy, xx = torch.meshgrid(torch.arange(33), torch.arange(33), indexing="ij")
    checker = ((yy + xx) % 2).float()[None, None].repeat(1, 3, 1, 1)
    target, mask = zoom(checker, torch.tensor([0.25]))
    inner = TF.max_pool2d(1 - mask, 3, stride=1, padding=1) == 0  # valid and not on the block's rim
    values = target[:, :, inner[0, 0]]
    assert values.numel() >= 3 * 6 * 6
    assert (values - 0.5).abs().max() < 0.05  # the rim's corners see the replicate-padded border


# ----------------------------------------------------------------------------- photometric


def test_color_adds_offsets_and_clamps():
    x = torch.full((2, 3, 4, 4), 0.5)
    target, mask = color(x, torch.tensor([[0.3, -0.2, 0.5], [-0.5, 0.0, 0.1]]))
    assert target[0, :, 0, 0].tolist() == pytest.approx([0.8, 0.3, 1.0])
    assert target[1, :, 2, 3].tolist() == pytest.approx([0.0, 0.5, 0.6])
    assert bool((mask == 1).all())
    assert bool((color(torch.full((1, 3, 2, 2), 0.9), torch.tensor([[0.4, 0.4, 0.4]]))[0] == 1).all())


def test_color_on_grey_images_uses_the_mean_offset():
    x = torch.full((1, 1, 4, 4), 0.4)
    target, _ = color(x, torch.tensor([[0.3, 0.3, 0.0]]))
    torch.testing.assert_close(target, torch.full_like(x, 0.6))
    target, _ = get_edit("color")(x, [0.3, 0.0, -0.3])
    torch.testing.assert_close(target, x)


def test_brightness_adds_and_clamps():
    x = torch.tensor([0.1, 0.8]).reshape(1, 1, 1, 2).repeat(2, 3, 1, 1)
    target, _ = brightness(x, torch.tensor([0.3, -0.2]))
    assert target[0, 0, 0].tolist() == pytest.approx([0.4, 1.0])
    assert target[1, 2, 0].tolist() == pytest.approx([0.0, 0.6])


def test_contrast_scales_about_the_image_mean():
    x = torch.tensor([0.25, 0.75]).reshape(1, 1, 1, 2).repeat(3, 3, 1, 1)
    target, mask = contrast(x, torch.tensor([2.0, 0.5, 1.5]))
    assert target[0, 0, 0].tolist() == pytest.approx([0.0, 1.0])
    assert target[1, 1, 0].tolist() == pytest.approx([0.375, 0.625])
    assert target[2, 2, 0].tolist() == pytest.approx([0.125, 0.875])
    const = torch.full((1, 3, 4, 4), 0.3)
    torch.testing.assert_close(contrast(const, torch.tensor([2.0]))[0], const)
    assert bool((mask == 1).all())


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name", ALL_NAMES)
def test_gradients_flow_to_the_images(name):
    x = (0.2 + 0.6 * _images()).requires_grad_(True)  # away from the clamp limits
    target, mask = get_edit(name)(x, STRONG[name])
    assert not mask.requires_grad
    (target * torch.linspace(0, 1, target.numel()).reshape(target.shape)).sum().backward()
    assert x.grad is not None
    assert bool(torch.isfinite(x.grad).all())
    assert x.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- alpha mapping


@pytest.mark.parametrize("name", ALL_NAMES)
def test_to_g_to_t_round_trip(name):
    edit = get_edit(name)
    a = edit.sample(50, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(edit.to_t(edit.to_g(a)), a, atol=1e-5, rtol=1e-5)
    g = torch.linspace(-1, 1, 11)
    torch.testing.assert_close(edit.to_g(edit.to_t(g)), g, atol=1e-5, rtol=1e-5)


def test_to_g_matches_the_paper_mapping():
    assert get_edit("zoom").to_g(torch.tensor([4.0])).item() == pytest.approx(math.log(4))
    assert get_edit("zoom").to_g(torch.tensor([0.25])).item() == pytest.approx(-math.log(4))
    assert get_edit("rotate2d").to_g(torch.tensor([-45.0])).item() == pytest.approx(-1.0)
    assert get_edit("rotate3d").to_t(torch.tensor([0.5])).item() == pytest.approx(22.5)
    assert get_edit("shift_x").to_g(torch.tensor([0.3])).item() == pytest.approx(0.3)
    assert get_edit("contrast").to_g(torch.tensor([2.0])).item() == pytest.approx(math.log(2))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_sample_within_range_and_reproducible(name):
    edit = get_edit(name)
    a = edit.sample(500, generator=torch.Generator().manual_seed(7))
    assert a.shape == ((500,) if edit.alpha_dim == 1 else (500, 3))
    assert a.dtype == torch.float32
    lo, hi = edit.alpha_range
    assert a.min() >= lo and a.max() <= hi
    assert torch.equal(a, edit.sample(500, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(a, edit.sample(500, generator=torch.Generator().manual_seed(8)))


def test_zoom_sample_is_log_uniform():
    a = get_edit("zoom").sample(4000, generator=torch.Generator().manual_seed(0))
    # log-uniform on [1/4, 4]: half the draws zoom out; uniform in alpha_t would give only 20 %.
    assert 0.45 < (a < 1).float().mean() < 0.55
    assert 0.2 < (a < 0.5).float().mean() < 0.3


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("n", [1, 2, 5, 6])
def test_grid_ordered_evenly_spaced_with_identity(name, n):
    edit = get_edit(name)
    grid = edit.grid(n)
    if edit.alpha_dim == 3:
        assert grid.shape == (3 * n, 3)
        blocks = grid.reshape(3, n, 3)
        for c in range(3):
            others = [o for o in range(3) if o != c]
            assert bool((blocks[c][:, others] == edit.identity).all())
        values = blocks[0, :, 0]
        assert torch.equal(blocks[1, :, 1], values) and torch.equal(blocks[2, :, 2], values)
    else:
        assert grid.shape == (n,)
        values = grid
    assert (values == edit.identity).sum() == 1
    lo, hi = edit.alpha_range
    assert values.min() >= lo and values.max() <= hi
    g = edit.to_g(values.double())
    if n > 1:
        steps = g[1:] - g[:-1]
        assert bool((steps > 0).all())
        torch.testing.assert_close(steps, steps[:1].expand_as(steps), atol=1e-5, rtol=1e-5)
    if n == 5:  # odd n on a range symmetric in alpha_g spans it exactly
        assert values[0].item() == pytest.approx(lo) and values[-1].item() == pytest.approx(hi)


# ----------------------------------------------------------------------------- bad input


def _one_line_value_error(fn, *args):
    with pytest.raises(ValueError) as info:
        fn(*args)
    msg = str(info.value)
    assert msg and "\n" not in msg
    return msg


def test_out_of_range_alpha_names_edit_value_and_range():
    msg = _one_line_value_error(get_edit("zoom"), _images(), 5.0)
    assert "zoom" in msg and "5" in msg and "0.25" in msg and "4" in msg
    msg = _one_line_value_error(get_edit("rotate2d"), _images(), [10.0, -46.0])
    assert "rotate2d" in msg and "-46" in msg and "45" in msg
    _one_line_value_error(get_edit("color"), _images(), [0.1, 0.6, 0.0])
    _one_line_value_error(get_edit("zoom"), _images(), 0.0)


def test_range_end_points_are_accepted_with_tolerance():
    get_edit("zoom").check(torch.tensor([4.0 + 5e-7, 0.25]))
    get_edit("shift_x")(_images(), -0.5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_alpha_is_refused(bad):
    msg = _one_line_value_error(get_edit("shift_x"), _images(), bad)
    assert "shift_x" in msg


@pytest.mark.parametrize(
    "name, alpha",
    [
        ("shift_y", torch.zeros(2, 2)),  # scalar edit given rows
        ("zoom", torch.ones(3)),  # 3 alphas for 2 images
        ("color", torch.zeros(2, 2)),  # colour needs 3 components
        ("color", torch.zeros(3, 3)),  # 3 colours for 2 images
        ("brightness", torch.zeros(2, 1, 1)),
    ],
)
def test_wrong_alpha_shape_is_refused(name, alpha):
    msg = _one_line_value_error(get_edit(name), _images(), alpha)
    assert name in msg


def test_check_normalises_shapes():
    assert get_edit("zoom").check(2.0).shape == (1,)
    assert get_edit("zoom").check([[2.0], [3.0]]).shape == (2,)
    assert get_edit("color").check([0.1, 0.2, 0.3], batch_size=4).shape == (4, 3)
    assert get_edit("shift_x").check(0.1, batch_size=3).tolist() == pytest.approx([0.1] * 3)


def test_unknown_edit_name():
    with pytest.raises(ValueError) as info:
        get_edit("sharpen")
    assert isinstance(info.value, KeyError)
    msg = str(info.value)
    assert "\n" not in msg and "sharpen" in msg and "zoom" in msg and "rotate3d" in msg


@pytest.mark.parametrize(
    "images", [torch.rand(3, 16, 16), torch.rand(1, 2, 3, 16, 16), torch.full((1, 3, 4, 4), float("nan"))]
)
def test_bad_images_are_refused(images):
    msg = _one_line_value_error(get_edit("shift_x"), images, 0.1)
    assert "shift_x" in msg


def test_register_a_user_edit():
    def invert(images, alpha_t):
        target = images + alpha_t[:, None, None, None] * (1 - 2 * images)
        return target, torch.ones_like(images[:, :1])

    edit = Edit("invert", invert, 1, (0.0, 1.0), 0.0, "blend towards the negative", "linear", 1.0, "Invert.")
    try:
        assert register_edit(edit) is edit and get_edit("invert") is edit
        target, _ = get_edit("invert")(torch.full((1, 1, 2, 2), 0.2), 1.0)
        torch.testing.assert_close(target, torch.full((1, 1, 2, 2), 0.8))
        with pytest.raises(ValueError):
            register_edit(edit)
    finally:
        EDITS.pop("invert", None)
    with pytest.raises(ValueError):
        Edit("bad", invert, 1, (0.0, 1.0), 2.0, "", "linear")  # identity outside the range
    with pytest.raises(ValueError):
        Edit("bad", invert, 1, (-1.0, 1.0), 0.0, "", "log")  # log needs a positive range


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ALL_NAMES)
def test_runs_on_cuda(name):
    edit = get_edit(name)
    x = _images().cuda()
    target, mask = edit(x, STRONG[name])
    assert target.device == x.device and mask.device == x.device
    cpu_target, cpu_mask = edit(x.cpu(), STRONG[name])
    torch.testing.assert_close(target.cpu(), cpu_target, atol=1e-4, rtol=0)
