"""Inversion-based trajectories and the encoding model t = g(<u, z>) (Plumerault et al. 2020).

- `invert`: Adam on z in the ball ||z|| <= sqrt(d), MSE / DSSIM / blurred loss (Eq. 1-3);
- `recursive_trajectories`: Algorithm 1 with the recursive solver (Eq. 5);
- `fit_encoding_model`: u and a monotone piecewise-linear g with g(0) = 0 (Eq. 8-9);
- `learn_trajectory_direction`, `controlled_latents`: a ``"trajectory"`` Direction whose alpha
  is the factor value, and sampling with a chosen factor distribution (Eq. 10-11);
- `compare_with_naive`, `compare_trajectory_with_naive`: recursive vs naive solver (App. D, F);

Its evaluation (Sec. 3.1, Figs. 2, 4, 5: `sweep_factor`, `norm_per_part`) is in
`steerlab.evaluation.trajectories`, its figures in `steerlab.report.trajectories`.
"""
from steerlab.methods.trajectories.control import (
    KIND,
    controlled_latents,
    factor_of,
    learn_trajectory_direction,
    move_to,
    parse_distribution,
    trajectory_direction,
)
from steerlab.methods.trajectories.encoding import (
    EncodingFit,
    PiecewiseLinear,
    erf_g,
    factor_density,
    fit_encoding_model,
    heldout_r2,
)
from steerlab.methods.trajectories.invert import Inversion, inversion_loss, invert, project_to_ball
from steerlab.methods.trajectories.recursive import (
    Trajectories,
    compare_trajectory_with_naive,
    compare_with_naive,
    default_T,
    load_trajectories,
    recursive_trajectories,
    save_trajectories,
)

__all__ = ["KIND", "controlled_latents", "factor_of", "learn_trajectory_direction", "move_to",
           "parse_distribution", "trajectory_direction", "EncodingFit", "PiecewiseLinear", "erf_g",
           "factor_density", "fit_encoding_model", "heldout_r2", "Inversion", "invert", "inversion_loss",
           "project_to_ball", "Trajectories", "compare_with_naive", "compare_trajectory_with_naive", "default_T",
           "load_trajectories", "recursive_trajectories", "save_trajectories"]
