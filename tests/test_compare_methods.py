"""`steerlab discover` for the latent family and `steerlab compare-methods`, on toy generators."""
import json
import re

import pytest
import torch
from torch import nn

from steerlab.attributes import MEASURES, Measure, register_measure
from steerlab.cli import main
from steerlab.directions import Direction
from steerlab.jobs.compare_methods import compare_methods
from steerlab.metrics.fid import FEATURE_NETWORKS, register_feature_network
from steerlab.models import wrap_generator


class _Brightness(nn.Module):
    """Toy generator: the image brightness is sigmoid(2 <u, z>) for a fixed unit u; a weak pattern from the rest of z."""

    def __init__(self, u):
        super().__init__()
        self.register_buffer("u", u)
        self.lin = nn.Linear(u.numel(), 3 * 8 * 8)
        with torch.no_grad():
            self.lin.weight.mul_(0.05)

    def forward(self, z):
        base = torch.sigmoid(2 * z @ self.u)[:, None, None, None]
        return (base + self.lin(z).view(-1, 3, 8, 8)).clamp(0, 1)


@pytest.fixture
def toy():
    torch.manual_seed(0)
    u = torch.randn(6)
    return wrap_generator(_Brightness(u / u.norm()), z_dim=6, resolution=8, output_range=(0, 1), name="bright")


class _Pool(nn.Module):
    """A cheap FID feature network for toy images: per-channel means and standard deviations."""

    num_features = 6

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], 1)


@pytest.fixture
def mean_measure():
    register_measure(Measure("toy_mean", lambda x: {"v": x.mean(dim=(1, 2, 3))}, ("v",), "mean"))
    register_feature_network("toy-pool", lambda device: _Pool())
    yield
    MEASURES._entries.pop("toy_mean", None)
    FEATURE_NETWORKS._entries.pop("toy-pool", None)


def test_compare_methods_picks_and_measures_each_method(toy, mean_measure, tmp_path):
    run = compare_methods(toy, "toy_mean:v", methods=("sefa", "ganspace", "boundary", "linear"), k=3, n=16,
                          n_screen=8, fid_n=16, out=tmp_path / "c", progress=False, fid_features="toy-pool")
    rows = {r["method"]: r for r in run["metrics"]["methods"]}
    assert "needs an edit" in rows["linear"]["skipped"]
    for name in ("sefa", "ganspace", "boundary"):
        x = rows[name]["matched"]
        assert x["mean_change"] > 0 and x["fid"] == x["fid"] and (tmp_path / "c" / f"strip_{name}.png").exists()
    b = rows["boundary"]["matched"]
    assert b["ratio"] > 0 and b["moving_asked_way"] > 0.9    # the boundary raises the planted attribute
    for name in ("sefa", "ganspace"):  # the picked direction of each is turned to raise the attribute
        assert rows[name]["matched"]["mean_delta"] > 0 and rows[name]["sign"] in (1.0, -1.0)
        assert len(rows[name]["screen_median_change"]) == 3
    page = (tmp_path / "c" / "report.html").read_text()
    assert "boundary toy_mean:v" in page and "strip_sefa.png" in page
    assert json.loads((tmp_path / "c" / "metrics.json").read_text())["attribute"] == "toy_mean:v"


def test_compare_methods_refuses_bad_targets_in_one_line(toy, tmp_path):
    for target, message in (("nope", "target must be an edit .* or an attribute MEASURE:KEY"),
                            ("box:width", "measure 'box' has no attribute 'width'"),
                            ("color", "no single attribute")):
        with pytest.raises(ValueError, match=message) as e:
            compare_methods(toy, target, out=tmp_path / "x", progress=False)
        assert "\n" not in str(e.value) and not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="unknown method 'pca'; allowed: .*sefa"):
        compare_methods(toy, "shift_x", methods=("pca",), out=tmp_path / "x", progress=False)


def test_discover_cli_runs_a_latent_method(tmp_path, tiny_file, capsys):
    out = tmp_path / "s"
    assert main(["discover", "--model", str(tiny_file), "--method", "sefa", "--k", "2", "--out", str(out)]) == 0
    assert "2 sefa directions" in capsys.readouterr().out
    d = Direction.load(out / "directions" / "k01.safetensors")
    assert d.kind == "linear" and d.config["name"] == "sefa #1"
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["info"]["eigenvalues"]) == 2 and (out / "overview.png").exists() and (out / "strip_k01.png").exists()


@pytest.mark.parametrize("argv,message", [
    (["--method", "sefa", "--layer", "conv1.weight"], "takes none"),
    (["--method", "svd"], "needs a layer"),
    (["--method", "svd", "--layer", "conv1.weight", "--attribute", "box:x"], "--attribute applies to the latent"),
    (["--method", "sefa", "--attribute", "box:x"], "--attribute does not apply to --method sefa"),
    (["--method", "boundary", "--attribute", "box:nope"], "measure 'box' has no attribute 'nope'"),
    (["--method", "sefa", "--layers", "0-3"], "has no w\\+ rows"),
])
def test_discover_cli_bad_latent_input_is_one_line_exit_2(tmp_path, tiny_file, capsys, argv, message):
    assert main(["discover", "--model", str(tiny_file), "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_a_direction_that_lowers_the_target_is_picked_turned_around(toy, mean_measure):
    from steerlab.directions import plain_alpha
    from steerlab.evaluation.comparison import effect_per_change
    from steerlab.jobs.compare_methods import _pick
    u = next(b for n, b in toy.named_buffers() if n.split(".")[-1] == "u")
    noise = torch.randn(6, generator=torch.Generator().manual_seed(1))
    dirs = [Direction(kind="linear", space="z", tensors={"w": w[None]}, model=toy.name, fingerprint=toy.fingerprint,
                      alpha=plain_alpha(3.0)) for w in (noise - (noise @ u) * u, -u)]  # orthogonal to u / lowers the mean
    i, sign, _ = _pick(toy, dirs, "toy_mean:v", n=8, seed=0)
    assert (i, sign) == (1, -1.0)
    rows = effect_per_change(toy, dirs[1], "toy_mean:v", [-1.0, -2.0], n=8, asked=1.0)["rows"]
    assert all(r["mean_delta"] > 0 and r["moving_asked_way"] == 1.0 for r in rows)
    assert effect_per_change(toy, dirs[1], "toy_mean:v", [-1.0], n=8)["rows"][0]["moving_asked_way"] == 0.0


def test_iterative_methods_get_their_own_defaults_or_one_stated_budget(toy):
    from steerlab.jobs.compare_methods import _options
    from steerlab.methods import METHODS

    def made(name, **budget):
        opts = _options(toy, name, "brightness", "colour:luminance", k=3, seed=0, **budget)
        return METHODS.get(name).make_config(**opts)

    for name in ("linear", "nonlinear", "latent-discovery"):
        own = METHODS.get(name).make_config(seed=0)
        cfg = made(name, steps=None, batch_size=None)
        assert (cfg.steps, cfg.batch_size) == (own.steps, own.batch_size)  # nothing cut short
        cfg = made(name, steps=37, batch_size=5)
        assert (cfg.steps, cfg.batch_size) == (37, 5)                      # the same budget for every one
    assert made("nonlinear", steps=None, batch_size=None).hidden == METHODS.get("nonlinear").make_config().hidden


def test_directions_are_picked_on_samples_the_table_does_not_report(toy, mean_measure, tmp_path, monkeypatch):
    import steerlab.jobs.compare_methods as job
    from steerlab.core import seeds

    calls = []
    real = job.effect_per_change

    def spy(G, d, attribute, alphas, *, n, seed, **kw):
        calls.append((n, seed, bool(kw.get("others"))))
        return real(G, d, attribute, alphas, n=n, seed=seed, **kw)

    monkeypatch.setattr(job, "effect_per_change", spy)
    compare_methods(toy, "toy_mean:v", methods=("sefa",), k=3, n=8, n_screen=8, fid_n=8, out=tmp_path / "c",
                    progress=False, fid_features="toy-pool")
    screen = {(n, s) for n, s, reported in calls if not reported}
    table = {(n, s) for n, s, reported in calls if reported}
    assert len(screen) == 1 and len(table) == 1
    (ns, ss), (nt, st) = screen.pop(), table.pop()
    zs, _ = seeds.held_out(toy, ns, ss)
    zt, _ = seeds.held_out(toy, nt, st)
    assert torch.cdist(zs, zt).min() > 1e-3  # no code is shared


def test_a_geometric_target_is_read_with_the_measure_asked_for(toy):
    from steerlab.jobs.compare_methods import target_attribute
    assert target_attribute(toy, "zoom", "face_box") == ("zoom", "face_box:area")
    assert target_attribute(toy, "shift_x") == ("shift_x", "box:x")
    assert target_attribute(toy, "brightness", "face_box") == ("brightness", "colour:luminance")
    with pytest.raises(ValueError, match="measure 'colour' does not return \\['x'\\]|does not return"):
        target_attribute(toy, "shift_x", "colour")
