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
# # Find and compare directions
#
# Nobody names these edits: directions are found in one layer's *weights* (Cherepkov et al.), by
# two methods, and compared on what they do. `svd` takes the top right singular vectors of the
# layer's weight matrix (the baseline); `optimize` learns k shifts together with a reconstructor
# that must tell from a pair of images which shift was applied and how far (their Eq. 1), so the
# shifts become distinguishable edits. Each direction's range T is calibrated so that +-T changes
# images by the same ST-LPIPS amount, so the methods are compared at equal visual change (the tiny
# run fixes T instead, to stay fast).
#
# `STEERLAB_EXAMPLES_TINY=1` makes every number tiny (the test suite runs it that way).

# %%
import os

from PIL import Image

import steerlab

TINY = os.environ.get("STEERLAB_EXAMPLES_TINY") == "1"
OUT = "runs/examples/03-discover"
LAYER = "conv5.weight" if TINY else "conv3.weight"
K, STEPS = (2, 2) if TINY else (8, 1000)
LIMIT = 1.0 if TINY else None  # None: calibrate T per direction

# %% [markdown]
# ## Which layers can be shifted?

# %%
for row in steerlab.layers("faces"):
    print(f"{row['name']:<14} {'x'.join(map(str, row['shape'])):<14} {row['params']:>8} parameters")

# %% [markdown]
# ## Find k directions with each method

# %%
runs = {}
for method in ("svd", "optimize"):
    runs[method] = steerlab.discover("faces", method, LAYER, k=K, steps=STEPS, limit=LIMIT,
                                     analyze=[] if TINY else ["locality"],
                                     out=f"{OUT}-{method}", overwrite=True, progress=not TINY,
                                     n_grid_z=1 if TINY else 3, n_shifts=3 if TINY else 7)

# %% [markdown]
# ## Compare them
# The calibrated range T of each direction (a larger T: the layer is less sensitive along it) and,
# with the locality analysis, how concentrated each change is in the image.

# %%
for method, run in runs.items():
    print(method)
    for i, d in enumerate(run["metrics"]["directions"]):
        extra = {k: v for k, v in d.items() if isinstance(v, (int, float)) and k != "index"}
        print(f"  k{i:02d} " + ", ".join(f"{k} {v:.3g}" for k, v in list(extra.items())[:4]))

# %% [markdown]
# ## Look at them
# Each method's overview: one row per direction, shifts from -T to +T.

# %%
Image.open(f"{OUT}-svd/overview.png") if os.path.exists(f"{OUT}-svd/overview.png") else None

# %%
Image.open(f"{OUT}-optimize/overview.png") if os.path.exists(f"{OUT}-optimize/overview.png") else None
