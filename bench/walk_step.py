"""One linear-walk training step vs its floor, on `faces` at batch 32, measured in one run.

floor = one generator forward without grad (the source image) + one forward+backward through
the generator at the same batch (the walked image); the step adds sampling, the edit, the
masked loss and Adam. Timings interleave step and floor; the ratio uses the fastest of the repeats of each (the least
disturbed by other load on a noisy machine); medians are printed too.

The same step is timed on the faces weights as a user's own network (a plain ``nn.Sequential``
in train mode with trainable weights, as a user hands it over) wrapped with `wrap_generator`:
the wrapper freezes it, so its step must cost what the zoo model's does.
Last lines: `walk step / floor ratio: X` (target <= 1.15) and
`wrapped / zoo walk step ratio: Y` (target within 5 % of 1).
"""
from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from steerlab.edits import get_edit
from steerlab.methods.walks.linear import walk_step
from steerlab.metrics.losses import masked_l2
from steerlab.models import load_model, wrap_generator

BATCH, REPEATS = 32, 20


def users_network(G) -> nn.Module:
    """The faces DCGAN as a user would write it: nn.Sequential, train mode, trainable weights."""
    layers: list[nn.Module] = [nn.Unflatten(1, (G.z_dim, 1, 1))]
    for i in range(1, G.n_layers + 1):
        conv = getattr(G, f"conv{i}")
        layers.append(nn.ConvTranspose2d(conv.in_channels, conv.out_channels, 4, conv.stride, conv.padding,
                                         bias=False))
        layers += [nn.BatchNorm2d(conv.out_channels), nn.ReLU()] if i < G.n_layers else [nn.Tanh()]
    net = nn.Sequential(*layers)
    mine = [m for m in net if isinstance(m, (nn.ConvTranspose2d, nn.BatchNorm2d))]
    theirs = [m for m in G.modules() if isinstance(m, (nn.ConvTranspose2d, nn.BatchNorm2d))]
    for a, b in zip(mine, theirs):
        a.load_state_dict(b.state_dict())
    return net.train().requires_grad_(True)


def main() -> None:
    G = load_model("faces")
    W = wrap_generator(users_network(G), z_dim=G.z_dim, resolution=G.resolution, name="faces-wrapped")
    edit = get_edit("zoom")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # the same images, so the same step
        z = torch.randn(4, G.z_dim)
        assert torch.allclose(G.synthesize(z), W.synthesize(z), atol=1e-5)

    def stepper(model):
        w = torch.zeros(1, model.z_dim, requires_grad=True)
        opt = torch.optim.Adam([w], lr=0.01)

        def step():
            opt.zero_grad(set_to_none=True)
            walk_step(model, edit, w, masked_l2, space="z", batch_size=BATCH, generator=g).backward()
            opt.step()
        return step

    def floor():
        z = torch.randn(BATCH, G.z_dim)
        with torch.no_grad():
            G.synthesize(z)
        zz = z.clone().requires_grad_(True)
        G.synthesize(zz).mean().backward()

    def edit_only():
        x = torch.rand(BATCH, 3, 64, 64)
        edit.fn(x, edit.sample(BATCH, generator=g))

    fns = {"step": stepper(G), "wrapped": stepper(W), "floor": floor, "edit": edit_only}
    times = {k: [] for k in fns}
    for fn in fns.values():  # warm up
        fn()
    for _ in range(REPEATS):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    trained = [n for n, p in W.named_parameters() if p.grad is not None]
    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"threads {torch.get_num_threads()}, batch {BATCH}, {REPEATS} interleaved repeats: best / median")
    print(f"walk step   {best['step'] * 1e3:8.1f} / {med['step'] * 1e3:8.1f} ms")
    print(f"wrapped     {best['wrapped'] * 1e3:8.1f} / {med['wrapped'] * 1e3:8.1f} ms  (user's nn.Sequential "
          f"through wrap_generator; weights given a .grad: {len(trained)})")
    print(f"floor       {best['floor'] * 1e3:8.1f} / {med['floor'] * 1e3:8.1f} ms  (forward no-grad + forward/backward)")
    print(f"the edit    {best['edit'] * 1e3:8.1f} / {med['edit'] * 1e3:8.1f} ms  (part of the step's extra)")
    print(f"median ratio: {med['step'] / med['floor']:.3f}")
    print(f"wrapped / zoo median ratio: {med['wrapped'] / med['step']:.3f}")
    print(f"walk step / floor ratio: {best['step'] / best['floor']:.3f}")
    print(f"wrapped / zoo walk step ratio: {best['wrapped'] / best['step']:.3f}")


if __name__ == "__main__":
    main()
