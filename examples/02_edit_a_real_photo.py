# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Edit a real photo
#
# Find a latent code for a real face (Plumerault et al., Eq. 2-3: Adam on z inside the ball
# `||z|| <= sqrt(d)`, with a blurred loss), then move it along a direction. The photo, its
# reconstruction and the edits are shown side by side: an edit can only be as faithful as the
# reconstruction it starts from.
#
# `STEERLAB_EXAMPLES_TINY=1` makes every number tiny (the test suite runs it that way).

# %%
import os
from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image

import steerlab
from steerlab.report.plots import grid_image, save_png

TINY = os.environ.get("STEERLAB_EXAMPLES_TINY") == "1"
OUT = Path("runs/examples/02-photo")
INVERT_STEPS, RESTARTS, WALK_STEPS = (3, 1, 2) if TINY else (600, 4, 300)

# %% [markdown]
# ## The photo
# scikit-image's `astronaut`, cropped around the face (the `faces` model draws aligned 64 px crops).

# %%
OUT.mkdir(parents=True, exist_ok=True)
photo = Image.fromarray(skimage.data.astronaut()[10:230, 115:335])
photo.save(OUT / "photo.png")
photo.resize((128, 128))

# %% [markdown]
# ## Invert it

# %%
inv = steerlab.invert([OUT / "photo.png"], "faces", steps=INVERT_STEPS, restarts=RESTARTS,
                      out=OUT / "invert", overwrite=True, progress=not TINY)
print(f"reconstruction MSE {inv['metrics']['mse'][0]:.4f}; latent file: {inv['latent']}")

# %% [markdown]
# ## A direction to edit with
# A brightness walk (any direction for `faces` works here, e.g. the zoom walk of notebook 01).

# %%
walk = steerlab.walk("faces", "brightness", steps=WALK_STEPS, batch_size=2 if TINY else 16, n_eval=4 if TINY else 32,
                     out=OUT / "brightness", overwrite=True, progress=not TINY)
alphas = [-0.3, -0.15, 0, 0.15, 0.3]
edits = steerlab.apply(walk["direction"], latent=inv["latent"], alphas=alphas)  # (1, 5, 3, 64, 64)

# %% [markdown]
# ## Side by side: photo, reconstruction, edits

# %%
target = torch.from_numpy(np.asarray(photo.resize((64, 64)), dtype=np.float32) / 255).permute(2, 0, 1)[None]
row = torch.cat([target, inv["reconstruction"][:1].cpu(), edits[0]])
labels = ["photo", "inverted"] + [f"{a:+g}" for a in alphas]
unit = steerlab.Direction.load(walk["direction"]).alpha.unit
side = grid_image([row], col_labels=labels, title=f"photo, its reconstruction, and brightness alpha ({unit})")
save_png(side, OUT / "side_by_side.png")
side
