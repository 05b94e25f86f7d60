"""The same code on a GPU: a walk step and an inversion step on CUDA match the CPU (skipped without a GPU).

TF32 is switched off for these comparisons, so the only differences are float32 summation order.
"""
import copy
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from steerlab.edits import get_edit
from steerlab.methods.trajectories.invert import invert
from steerlab.methods.walks.linear import walk_step
from steerlab.metrics.losses import masked_l2
from steerlab.models import stylegan3_from_state
from test_stylegan2 import make_sg2

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SG3 = Path(__file__).parent / "fixtures" / "stylegan3"


def make_sg3():
    meta = json.loads((SG3 / "stylegan3_t.json").read_text())
    G = stylegan3_from_state(meta["init_kwargs"], load_file(str(SG3 / "stylegan3_t_state.safetensors")),
                             name="sg3-t-tiny")
    return G.eval().requires_grad_(False)


@pytest.fixture(autouse=True)
def _no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _walk_loss_and_grad(G, space):
    shape = G.latent_shape(space)
    w = (0.3 * torch.randn(1, *shape, generator=torch.Generator().manual_seed(5))).to(G.device).requires_grad_(True)
    loss = walk_step(G, get_edit("zoom"), w, masked_l2, space=space, batch_size=4,
                     generator=torch.Generator().manual_seed(0))
    loss.backward()
    return loss.detach().cpu(), w.grad.cpu()


@pytest.mark.parametrize("make", [make_sg2, make_sg3], ids=["stylegan2", "stylegan3"])
@pytest.mark.parametrize("space", ["z", "w+"])
def test_walk_step_on_cuda_matches_cpu(make, space):
    G = make()
    Gc = copy.deepcopy(G).to("cuda")
    loss, grad = _walk_loss_and_grad(G, space)
    loss_c, grad_c = _walk_loss_and_grad(Gc, space)
    assert grad.abs().max() > 0  # the step does something to compare
    assert torch.allclose(loss_c, loss, rtol=1e-4, atol=1e-6)
    assert torch.allclose(grad_c, grad, rtol=1e-3, atol=1e-5 * float(grad.abs().max()))


@pytest.mark.parametrize("make", [make_sg2, make_sg3], ids=["stylegan2", "stylegan3"])
@pytest.mark.parametrize("space", ["z", "w+"])
def test_inversion_steps_on_cuda_match_cpu(make, space):
    G = make()
    Gc = copy.deepcopy(G).to("cuda")
    with torch.no_grad():
        targets = G.synthesize(G.sample_z(2, generator=torch.Generator().manual_seed(3)))
    cpu = invert(G, targets, loss="l2", steps=2, lr=0.05, space=space, seed=1, progress=False)
    gpu = invert(Gc, targets.cuda(), loss="l2", steps=2, lr=0.05, space=space, seed=1, progress=False)
    assert gpu.z.device.type == "cuda"
    assert not torch.allclose(cpu.z, invert(G, targets, steps=0, space=space, seed=1, progress=False).z)  # moved
    assert torch.allclose(gpu.z.cpu(), cpu.z, rtol=1e-4, atol=1e-4)
    assert torch.allclose(gpu.curve.cpu(), cpu.curve, rtol=1e-3, atol=1e-6)
