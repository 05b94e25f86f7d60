"""`evaluate` computes each image's ST-LPIPS features once, with the numbers it gave before."""
import pytest
import torch

import steerlab.metrics.perceptual as perceptual
from helpers import make_tiny
from steerlab.directions import Direction, alpha_spec
from steerlab.edits import get_edit
from steerlab.evaluation.steerability import steerability

# recorded before the features were reused (each consecutive pair then ran ST-LPIPS on both images);
# equal since to float rounding: the ST-LPIPS trunk runs channels-last on the CPU (2.4e-6 relative)
STEPS = [0.0053548202849924564, 0.0021578853484243155, 0.0015230471035465598]
ENDS = [0.013516063801944256, 0.0015230471035465598]


def _setup():
    G = make_tiny(resolution=32)
    edit = get_edit("zoom")
    w = 4.0 * torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0))
    return G, Direction(kind="linear", space="z", tensors={"w": w}, model=G.name, fingerprint=G.fingerprint,
                        alpha=alpha_spec(edit), edit=edit.name)


def test_perceptual_numbers_are_unchanged_and_features_run_once_per_image(monkeypatch, capsys):
    G, d = _setup()
    seen = []
    real = perceptual.perceptual_features
    monkeypatch.setattr(perceptual, "perceptual_features", lambda x, net="alex": seen.append(x.shape[0]) or real(x, net))
    r = steerability(G, d, n=6, n_alphas=4, batch_size=4, fid=False, progress=True)
    assert r["perceptual_steps"] == pytest.approx(STEPS, rel=1e-5)
    assert r["perceptual_to_base_ends"] == pytest.approx(ENDS, rel=1e-5)
    assert sum(seen) == 6 * (1 + 4)  # G(z) once, then every alpha's images once
    err = capsys.readouterr().err
    assert "evaluate: base images" in err and "evaluate: alpha 4/4" in err  # one bar, phases named
