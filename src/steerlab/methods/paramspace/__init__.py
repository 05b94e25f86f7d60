"""Directions in a generator's *weight* space (Cherepkov, Voynov, Babenko, CVPR 2021).

- ``shifts``: render G_{theta + t xi}(z) without mutating the model; the "weight" Direction kind.
- ``svd``: the SVD baseline and the singular-value parameterisation.
- ``hessian``: top eigenvectors of the perceptual-change Hessian (block Lanczos, exact HVPs;
  the paper's finite-difference power iteration as the reference).
- ``reconstructor``: the optimisation-based method (Eq. 1-2), directions + a two-headed ResNet.
- ``hybrid``: the optimisation restricted to the span of the top Hessian eigenvectors.
- ``calibrate``: shift ranges at a matched perceptual change;
- ``learn``: the four methods as registry entries (k calibrated weight Directions each).

Grids, FID vs shift, locality heatmaps and the latent-mimic test are in `steerlab.evaluation.weights`.
"""
from steerlab.methods.paramspace.shifts import (
    layer_table,
    layer_weight,
    render_shifted,
    render_shifts,
    steer_weight,
    weight_direction,
)
from steerlab.methods.paramspace.svd import CoordinateBasis, SVDBasis, svd_directions

__all__ = ["layer_table", "layer_weight", "render_shifted", "render_shifts", "steer_weight",
           "weight_direction", "SVDBasis", "CoordinateBasis", "svd_directions"]
