"""The training loops do only the work they need, and give the numbers they gave before.

Stored numbers: tiny seeded runs recorded before the loops stopped reading the loss back every
step, stopped running both nonlinear step networks on every sample and stopped building a graph
for the final inversion loss. Linear walks and inversion do the same float operations as then
and must match exactly; the nonlinear walk multiplies smaller matrices (only the samples a
network moves), so its numbers may differ by float rounding only.
"""
import math

import pytest
import torch

import steerlab.directions.ops as ops
from steerlab.methods.trajectories.invert import invert
from steerlab.methods.walks.linear import learn_linear_walk
from steerlab.methods.walks.nonlinear import init_nets, learn_nonlinear_walk

# recorded with the loops as they were (tiny DCGAN of tests/helpers.py, seed 0)
LINEAR_CURVE = {0: 0.00026826615794561803, 9: 0.00034981826320290565}
LINEAR_W_SUM = 0.09957526111975312
NONLINEAR_CURVE = [0.00036998503492213786, 0.00034276224323548377, 0.00035299660521559417, 0.00033891297061927617,
                   0.00034753247746266425, 0.0003579735930543393, 0.0003737596853170544, 0.0003083666379097849]
NONLINEAR_SUMS = [-3.830632894532755, -0.2093352321535349, -2.034682525903918, 0.0013308244524523616]
INVERT_Z = [-0.45392781496047974, 0.8106497526168823, -1.9487019777297974, -1.7290021181106567,
            0.04880474880337715, -0.3665162920951843]  # z[0, :6] after 10 steps


def test_seeded_linear_walk_and_inversion_give_the_stored_numbers(tiny):
    d = learn_linear_walk(tiny, "zoom", steps=10, batch_size=4, seed=1, progress=False)
    curve = d.metrics["loss_curve"]
    assert len(curve) == 10
    assert {i: curve[i] for i in LINEAR_CURVE} == LINEAR_CURVE
    assert float(d.tensors["w"].double().sum()) == pytest.approx(LINEAR_W_SUM, rel=1e-12)
    targets = tiny.synthesize(tiny.sample_z(2, generator=torch.Generator().manual_seed(5)))
    inv = invert(tiny, targets, steps=10, seed=6, progress=False)
    assert inv.z[0, :6].tolist() == INVERT_Z


def test_seeded_nonlinear_walk_gives_the_stored_numbers_up_to_rounding(tiny):
    d = learn_nonlinear_walk(tiny, "zoom", steps=8, batch_size=6, hidden=16, seed=2, progress=False)
    assert d.metrics["loss_curve"] == pytest.approx(NONLINEAR_CURVE, rel=1e-5)
    sums = [float(v.double().sum()) for v in d.tensors.values()]
    assert sums == pytest.approx(NONLINEAR_SUMS, rel=1e-4, abs=1e-6)


def _reference_euler(nets, z, n):
    """Every network on every sample, picked per sample afterwards (the plain reading of Eq. 2)."""
    for k in range(n.shape[1]):
        count = n[:, k].abs()
        count = torch.where((count - count.round()).abs() < ops.STEP_TOL, count.round(), count)
        for i in range(int(math.ceil(float(count.max())))):
            frac = (count - i).clamp(0, 1)[:, None]
            both = torch.stack([ops.step_net(nets, z, k, torch.full((z.shape[0],), s)) for s in (0, 1)], 1)
            step = both[torch.arange(z.shape[0]), (n[:, k] < 0).long()]
            moved = z + frac * step
            moved = moved * (z.norm(dim=1, keepdim=True) / moved.norm(dim=1, keepdim=True))
            z = torch.where(frac > 0, moved, z)
    return z


def test_euler_walk_runs_each_sample_through_its_own_network_only(monkeypatch):
    g = torch.Generator().manual_seed(3)
    nets = init_nets(8, 3, 2, 16, g)
    z = torch.randn(7, 8, generator=g)
    n = torch.tensor([[2.0, -1.0, 0.0], [-3.0, 0.5, 1.0], [0.0, 0.0, -2.5], [1.0, 2.0, 2.0],
                      [-0.25, -1.0, 0.0], [3.0, 3.0, -1.0], [0.0, 1.5, 0.0]])
    want = _reference_euler(nets, z, n)
    calls = []
    real = ops.step_net
    monkeypatch.setattr(ops, "step_net", lambda nets_, z_, k, slot: calls.append((k, slot, z_.shape[0]))
                        or real(nets_, z_, k, slot))
    got = ops.euler_walk(nets, z, n)
    assert torch.allclose(got, want, atol=1e-6)
    assert all(isinstance(slot, int) for _, slot, _ in calls)  # one network per call
    # rows passed = sum over samples of the steps they take (ceil of |n|), nothing for n = 0
    assert sum(rows for *_, rows in calls) == int(n.abs().ceil().sum())
    for k in range(3):
        for slot in (0, 1):
            moving = ((n[:, k] < 0) == bool(slot)) & (n[:, k] != 0)
            rows = sum(r for kk, s, r in calls if (kk, s) == (k, slot))
            assert rows == int(n[moving, k].abs().ceil().sum())


def test_euler_walk_gradients_reach_only_the_networks_used():
    g = torch.Generator().manual_seed(4)
    nets = {k: v.requires_grad_(True) for k, v in init_nets(8, 1, 2, 16, g).items()}
    z = torch.randn(5, 8, generator=g)
    ops.euler_walk(nets, z, torch.tensor([[1.0], [2.0], [0.0], [1.5], [3.0]])).sum().backward()
    assert nets["W1"].grad[0, 0].abs().sum() > 0
    assert torch.equal(nets["W1"].grad[0, 1], torch.zeros_like(nets["W1"].grad[0, 1]))  # no negative steps


def test_inversion_builds_no_graph_for_its_final_loss(tiny):
    seen = []
    synth = tiny.synthesize

    def spy(*a, **kw):
        seen.append(torch.is_grad_enabled())
        return synth(*a, **kw)

    tiny.synthesize = spy
    targets = synth(tiny.sample_z(2, generator=torch.Generator().manual_seed(1)))
    inv = invert(tiny, targets, steps=4, seed=0, progress=False)
    assert seen == [True] * 4 + [False]
    assert inv.curve.shape == (5, 2) and torch.isfinite(inv.loss).all()
