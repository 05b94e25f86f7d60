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
# # Steer a generated face
#
# Learn a *zoom* walk in the latent space of the bundled `faces` DCGAN (Jahanian et al., Eq. 1:
# `G(z + alpha w)` should look like `G(z)` zoomed by alpha), look at it, and check per sample
# whether it does better than leaving the image as it is.
#
# Open it as a notebook with `jupytext --to notebook`, or run it as a script. With
# `STEERLAB_EXAMPLES_TINY=1` every number is tiny (the test suite runs it that way in seconds).

# %%
import os

from PIL import Image

import steerlab

TINY = os.environ.get("STEERLAB_EXAMPLES_TINY") == "1"
OUT = "runs/examples/01-face-zoom"
STEPS, BATCH, N_EVAL = (3, 2, 4) if TINY else (400, 16, 48)

# %% [markdown]
# ## Learn the walk
# A few hundred Adam steps on the CPU; the run folder holds the direction, a strip, plots and a report.

# %%
run = steerlab.walk("faces", "zoom", steps=STEPS, batch_size=BATCH, n_eval=N_EVAL, out=OUT, overwrite=True,
                    progress=not TINY)
m = run["metrics"]
print(f"held-out masked L2: walk {m['walk_l2_mean']:.4f} vs do-nothing {m['baseline_l2_mean']:.4f}")
print(f"per sample: better for {m['fraction_samples_better']:.0%}, median paired change "
      f"{m['median_paired_change']:+.4f}; beats doing nothing: {m['beats_doing_nothing']}")

# %% [markdown]
# ## Apply it
# Four faces (seeds 0-3) at zoom factors 0.5 to 2. Zooming out asks for pixels the model never drew,
# so expect it to break down first there (the paper's Fig. 3 limits).

# %%
images = steerlab.apply(run["direction"], seeds=[0, 1, 2, 3], alphas=[0.5, 0.71, 1, 1.41, 2],
                        out=f"{OUT}-strip", overwrite=True)
print("images:", tuple(images.shape), "(samples, alphas, C, H, W)")
Image.open(f"{OUT}-strip/strip.png")

# %% [markdown]
# ## Measure it
# A lower L2 is not proof that faces grow: read the face box with a detector over alpha (`steerlab
# evaluate`), and look at the report's strip and attribute plots.

# %%
ev = steerlab.evaluate(run["direction"], n=N_EVAL, n_alphas=3 if TINY else 7, fid=False, out=f"{OUT}-evaluate",
                       overwrite=True, progress=not TINY)
e = ev["metrics"]
print(f"{e['primary']} ({e['measure']}) per alpha:",
      ", ".join(f"{a:g}: {s['mean']:.3f}" for a, s in zip(e["alphas"], e["attribute"][e["primary"]])))
print("report:", f"{OUT}-evaluate/report.html")
