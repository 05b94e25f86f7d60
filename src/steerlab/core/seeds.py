"""Named seed streams: every random draw steerlab makes apart from a run's own ``seed``.

A run takes one ``seed``; draws that must not reuse the training draws (held-out codes,
calibration codes, figure rows) are seeded with ``seed + STREAM``, where ``STREAM`` is one of
the offsets below. Each offset is named once, here, so two draws that must be independent can
never share a seed by accident (a test checks that all streams are distinct). The numbers are
kept from earlier releases so seeded results do not change; only the two calibration streams
that used to equal an evaluation stream were moved.

    >>> g = generator(0, EVAL_HELD_OUT)        # the codes every evaluation judges a walk on
    >>> z = torch.randn(4, 8, generator=g)

Streams marked "on top of EVAL_HELD_OUT" are added to the seed *before* it is passed to
`held_out` (below), which adds ``EVAL_HELD_OUT`` itself.
"""
from __future__ import annotations

import torch

__all__ = ["EVAL_HELD_OUT", "EVAL_MODEL_REFERENCE", "TRAJECTORY_HELD_OUT", "FACTOR_STRIP",
           "RECONSTRUCTOR_HELD_OUT", "SHIFT_CALIBRATION", "WALK_SPREAD", "TEST_DRAW", "HELD_OUT_FRESH",
           "HELD_OUT_FIGURE_ROWS", "FIGURE_ROWS", "WEIGHT_FID_REFERENCE", "WEIGHT_FID_SHIFTED",
           "AUGMENTATION", "MIMIC_FIT", "MIMIC_EVAL", "MIMIC_CONTROL", "DSPRITES_POOL",
           "HELD_OUT_SUBSTREAMS", "streams", "generator", "held_out"]

# ----------------------------------------------------------------------- evaluation
EVAL_HELD_OUT = 1_000_003         # held-out (z, class) every walk is judged on (`held_out`); also
#                                   seeds the fresh data-set draw it is compared with
EVAL_MODEL_REFERENCE = 2_000_006  # G(z) reference set when a model has no data set (steerability)
TRAJECTORY_HELD_OUT = 2_000_003   # held-out z of a trajectory direction's factor sweep
FACTOR_STRIP = 3_000_017          # rows of the factor strip a trajectory run shows (jobs.trajectory)
WALK_SPREAD = 7_000_003           # latents on which a nonlinear walk's spread of steps is measured

# ----------------------------------------------------------------------- calibration
# These two used to be 1_000_003 and 2_000_003, the same codes the evaluation streams above
# judge on; calibrating on the codes one is judged on flatters the result.
RECONSTRUCTOR_HELD_OUT = 4_000_037  # fresh (z, k, t) on which the weight reconstructor's accuracy is read
SHIFT_CALIBRATION = 5_000_011       # the 8 codes weight shifts are calibrated on (an absolute seed:
#                                     `steerlab discover` calibrates on the same codes for every --seed)

# ----------------------------------------------------------------------- training and figures
TEST_DRAW = 1               # fresh data / samples after training on ``seed``: feature-classifier test
#                             sets, a trained GAN's FID
HELD_OUT_FRESH = 3          # on top of EVAL_HELD_OUT: fresh G(z) as the FID reference (nonlinear-walks)
HELD_OUT_FIGURE_ROWS = 17   # on top of EVAL_HELD_OUT: the rows of a reproduction's strip figures
FIGURE_ROWS = 5             # the rows of the beta-VAE factor strips
AUGMENTATION = 11           # the random alphas of edit-augmented real data (steerable-training (b))
DSPRITES_POOL = 7919        # the fixed dSprites training pool of the beta-VAE reproduction
RANDOM_DIRECTION = 29       # the random unit direction a reproduction compares a learned one with (latent-parts, shared-direction)

# ----------------------------------------------------------------------- weight-shift analyses
WEIGHT_FID_REFERENCE = 7    # codes of the unshifted reference set of FID vs shift
WEIGHT_FID_SHIFTED = 13     # codes of the shifted sets of FID vs shift (was 11 = AUGMENTATION)
MIMIC_FIT = 101             # codes a latent shift is fitted on to mimic a weight shift (Eq. 5)
MIMIC_EVAL = 202            # held-out codes the mimicry is judged on
MIMIC_CONTROL = 303         # the random latent direction of the mimicry control

# Streams that `held_out` offsets again by EVAL_HELD_OUT (their effective offset is the sum).
HELD_OUT_SUBSTREAMS = ("HELD_OUT_FRESH", "HELD_OUT_FIGURE_ROWS")


def streams() -> dict[str, int]:
    """Every named stream: ``{name: offset}`` (for checks and reports)."""
    return {name: value for name, value in globals().items()
            if name.isupper() and isinstance(value, int) and not isinstance(value, bool)}


def generator(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed + stream``: the stream's draws for a run
    seeded with ``seed`` (same numbers as ``torch.Generator().manual_seed(seed + stream)``)."""
    return torch.Generator(device).manual_seed(int(seed) + int(stream))


def held_out(G, n: int, seed: int, stream: int = EVAL_HELD_OUT):
    """The held-out (z (n, z_dim), classes (n,) or None) a model is judged on: drawn by ``G`` (any
    steerlab `Generator`) from ``generator(seed, stream)``, so every evaluation of every method sees
    the same codes and none of the training draws."""
    g = generator(seed, stream)
    return G.sample_z(n, generator=g), G.sample_classes(n, generator=g)
