"""Write the files of steerlab's first layout (commit 85169cd) that later versions must still read.

Run it with that commit's sources first on the path, e.g.
    git worktree add /tmp/v1 85169cd && PYTHONPATH=/tmp/v1/src python tools/make_v1_fixtures.py tests/fixtures/v1

It writes, into the folder given:
- ``tiny.safetensors/json``: a tiny seeded DCGAN (16 px, z_dim 8) in the generator file format;
- one direction file per kind (linear, nonlinear, nn-linear, weight, trajectory) for that model;
- ``latent.safetensors``: a latent file as `steerlab invert` wrote it;
- ``trajectories.safetensors``: a trajectory data set as `steerlab trajectory` wrote it;
- ``faces_zoom_seed3.safetensors``: the direction of
  ``steerlab walk --model faces --edit zoom --steps 40 --seed 3`` (a seeded run's exact tensors).
"""
import sys
from pathlib import Path

import torch

import steerlab

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
print("steerlab from", steerlab.__file__)

from steerlab.models import DCGANGenerator, load_model, save_generator  # noqa: E402

torch.manual_seed(0)
G = DCGANGenerator(z_dim=8, resolution=16, width=8, name="tiny")
with torch.no_grad():
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
G = G.eval().requires_grad_(False)
save_generator(G, out / "tiny")

from steerlab.walks import learn_linear_walk, learn_nn_walk, learn_nonlinear_walk  # noqa: E402

learn_linear_walk(G, "zoom", steps=3, batch_size=4, progress=False).save(out / "linear")
learn_nonlinear_walk(G, "shift_x", steps=2, batch_size=4, hidden=8, progress=False).save(out / "nonlinear")
learn_nn_walk(G, "brightness", steps=2, batch_size=4, hidden=8, progress=False).save(out / "nn-linear")

from steerlab.paramspace import svd_directions, weight_direction  # noqa: E402

dirs, _ = svd_directions(G.shiftable_weights()["conv2.weight"], 1)
weight_direction(G, "conv2.weight", dirs[0], limit=2.0, method="svd", index=0).save(out / "weight")

from steerlab.trajectories import learn_trajectory_direction  # noqa: E402
from steerlab.trajectories.recursive import save_trajectories  # noqa: E402

d, data, _ = learn_trajectory_direction(G, "shift_x", n_trajectories=4, n_steps=2, steps_per_target=3,
                                        fit_steps=20, progress=False)
d.save(out / "trajectory")
save_trajectories(data, out / "trajectories.safetensors")

from steerlab.trajectory_api import save_latent  # noqa: E402

save_latent(out / "latent.safetensors", torch.randn(2, 8, generator=torch.Generator().manual_seed(5)), G,
            meta={"loss": "blurred"})

from steerlab.api import walk  # noqa: E402

faces = load_model("faces")
run = walk(faces, "zoom", steps=40, seed=3, out=out / "_faces_run", overwrite=True, n_eval=4, progress=False)
from steerlab.directions import Direction  # noqa: E402

Direction.load(run["direction"]).save(out / "faces_zoom_seed3")
import shutil  # noqa: E402

shutil.rmtree(out / "_faces_run")
for p in sorted(out.iterdir()):
    print(p.name, p.stat().st_size)
