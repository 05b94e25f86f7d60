"""The built-in methods: their Config dataclasses and how each one learns.

=============  ============  ====================================================================
name           family        what it learns
=============  ============  ====================================================================
linear         walk          w with G(z + alpha w) ~ edit(G(z), alpha) (Jahanian et al., Eq. 1)
nonlinear      walk          Euler steps z + NN(z) (Eq. 2)
nn-linear      walk          G(z + alpha NN(z)) (App. A.3)
trajectory     trajectory    an encoding model t = g(<u, z>) from inverted trajectories (Plumerault)
svd            weight        top singular directions of a layer (Cherepkov et al., Sec. 4.2)
hessian        weight        top eigenvectors of the perceptual-change Hessian (Sec. 3.3)
optimize       weight        directions a reconstructor can tell apart (Sec. 3.2, Eq. 1)
hybrid         weight        the optimisation in the top Hessian eigenvectors' span (Sec. 3.4)
=============  ============  ====================================================================

The "latent" family: k linear latent directions found without an image edit.

================  ====================================================================
name              what it learns
================  ====================================================================
sefa              top eigenvectors of A^T A, A the latent's first projection (Shen & Zhou)
ganspace          PCA of w, or of an early layer regressed to z (Härkönen et al.)
boundary          normal of a linear SVM on an attribute of samples (InterFaceGAN)
latent-discovery  K directions a reconstructor can tell apart (Voynov & Babenko)
================  ====================================================================

Only dataclasses are defined here; each ``learn`` imports its method module when it runs, so
``import steerlab.methods`` registers every method without loading torch-heavy code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from steerlab.methods.registry import Learned, MethodConfig, option, register_method

__all__ = ["WalkConfig", "LinearWalkConfig", "NonlinearWalkConfig", "NNWalkConfig", "TrajectoryConfig",
           "WeightConfig", "SVDConfig", "HessianConfig", "OptimizeConfig", "HybridConfig", "LatentConfig",
           "SeFaConfig", "GANSpaceConfig", "BoundaryConfig", "LatentDiscoveryConfig"]

_LOSS_HELP = "training loss: l2 (masked), blurred (Gaussian, sigma 3), dssim, perceptual (ST-LPIPS) or edges (l2 + Sobel gradients)"


# ----------------------------------------------------------------------------- latent walks
@dataclass
class WalkConfig(MethodConfig):
    """Options of every latent walk (Adam on fresh z and alpha every step)."""

    edit: str = option("zoom", "the image edit the walk learns to follow (see `steerlab edits`)")
    space: str = option("z", "latent space to walk in: z, or w / w+ where the model has them")
    steps: int = option(1000, "Adam steps (a fresh batch of z and alpha each)")
    batch_size: int = option(16, "samples per step (per process under torchrun)")
    lr: float = option(0.01, "Adam learning rate")
    loss: str = option("l2", _LOSS_HELP)
    checkpoint: Any = option(None, "a steerlab.core.checkpoint.Checkpoint: save every checkpoint.every steps "
                                   "and resume from it", saved=False)


@dataclass
class LinearWalkConfig(WalkConfig):
    """Options of the linear walk (Eq. 1)."""


@dataclass
class _NetWalkConfig(WalkConfig):
    """Options of the walks whose step is a network NN(z)."""

    lr: float = option(1e-3, "Adam learning rate")
    hidden: int = option(256, "width of the two-layer step networks")


@dataclass
class NNWalkConfig(_NetWalkConfig):
    """Options of App. A.3's walk G(z + alpha NN(z))."""


@dataclass
class NonlinearWalkConfig(_NetWalkConfig):
    """Options of the nonlinear walk (Eq. 2)."""

    n_steps: int = option(5, "Euler steps that reach the far end of the edit's range "
                             "(epsilon = max |alpha_g| / n_steps)")


def _walk_options(config: WalkConfig) -> dict[str, Any]:
    return {k: getattr(config, k) for k in ("space", "steps", "batch_size", "lr", "loss", "seed", "progress",
                                            "checkpoint")}


def learn_linear(G, config: LinearWalkConfig) -> list:
    from steerlab.methods.walks.linear import learn_linear_walk
    return [learn_linear_walk(G, config.edit, **_walk_options(config))]


def learn_nonlinear(G, config: NonlinearWalkConfig) -> list:
    from steerlab.methods.walks.nonlinear import learn_nonlinear_walk
    return [learn_nonlinear_walk(G, config.edit, hidden=config.hidden, n_steps=config.n_steps,
                                 **_walk_options(config))]


def learn_nn_linear(G, config: NNWalkConfig) -> list:
    from steerlab.methods.walks.nonlinear import learn_nn_walk
    return [learn_nn_walk(G, config.edit, hidden=config.hidden, **_walk_options(config))]


# ----------------------------------------------------------------------------- trajectories
@dataclass
class TrajectoryConfig(MethodConfig):
    """Options of the trajectory method: Algorithm 1 (Eq. 5), then the encoding model (Eq. 9)."""

    edit: str = option("shift_x", "the image transformation whose factor the direction controls")
    n_trajectories: int = option(64, "start codes z0 (trajectories per side)")
    T: float | None = option(None, "largest step dt in alpha_g units (default: from the edit's range)")
    n_steps: int = option(10, "sub-problems per side of a trajectory")
    steps_per_target: int = option(100, "Adam steps of each inversion sub-problem")
    lr: float = option(0.1, "Adam learning rate of the inversions")
    loss: str = option("blurred", "inversion loss: l2 (alias mse), dssim or blurred (Gaussian-blurred l2)")
    sigma: float = option(3.0, "blur of the blurred loss, in pixels")
    discard: float = option(0.1, "fraction of rows with the worst error dropped before the fit")
    fit_steps: int = option(500, "steps of the encoding-model fit")
    n_knots: int = option(21, "knots of the piecewise-linear g")


def learn_trajectory(G, config: TrajectoryConfig) -> Learned:
    from steerlab.methods.trajectories.control import learn_trajectory_direction
    d, data, fit = learn_trajectory_direction(
        G, config.edit, n_trajectories=config.n_trajectories, T=config.T, n_steps=config.n_steps,
        steps_per_target=config.steps_per_target, lr=config.lr, loss=config.loss, sigma=config.sigma,
        discard=config.discard, fit_steps=config.fit_steps, n_knots=config.n_knots, seed=config.seed,
        progress=config.progress)
    return Learned([d], {"trajectories": data, "fit": fit})


# ----------------------------------------------------------------------------- weight space
@dataclass
class WeightConfig(MethodConfig):
    """Options of every weight-space method: which layer, how many directions, their range."""

    layer: str | None = option(None, "the weight to shift (see `steerlab layers`); default: the first")
    k: int = option(16, "number of directions")
    limit: float | None = option(None, "one shift range T for every direction; default: each T_k "
                                       "calibrated to the target perceptual change")
    target: float = option(0.15, "mean ST-LPIPS change at +-T that calibrates the shift ranges")


@dataclass
class SVDConfig(WeightConfig):
    """Options of the SVD baseline (deterministic: the seed is only recorded)."""


@dataclass
class HessianConfig(WeightConfig):
    """Options of the Hessian method: thick-restart Lanczos on exact Hessian-vector products."""

    n_z: int = option(32, "codes z the perceptual change is averaged over, on the first try (the paper: 512)")
    tol: float = option(1e-2, "Lanczos tolerance: relative residual of every wanted eigenpair")
    block: int = option(1, "Lanczos block size (1: thick-restart Lanczos; > 1: the former block solver)")
    overlap: bool = option(True, "also solve on a second, disjoint batch of n_z codes and report the top-k "
                                 "subspace overlap of the two (1: stable; costs a second solve; off: one solve "
                                 "at n_z, no growth)")
    stable_overlap: float = option(0.9, "grow the batch until the two batches' top-stable_k overlap reaches this "
                                        "(n_z grown 2-8x per try, up to max_n_z; 0: one batch of n_z, the overlap "
                                        "only reported)")
    max_n_z: int = option(1024, "the largest batch stable_overlap may grow n_z to (faces conv2 needs 1024)")
    stable_k: int = option(4, "the leading directions whose subspace stable_overlap asks to agree (0: all k; "
                              "past the first eigen-gap single eigenvectors are not identifiable)")


@dataclass
class OptimizeConfig(WeightConfig):
    """Options of the optimisation method (Eq. 1): directions + reconstructor, trained jointly."""

    steps: int = option(1000, "Adam steps of directions and reconstructor")
    batch_size: int = option(16, "image pairs per step")
    lr: float = option(1e-3, "Adam learning rate")
    lam: float = option(0.25, "weight of the shift-regression term against the classification term")
    checkpoint: str | None = option(None, "path stem of a resumable training checkpoint", saved=False)
    resume: bool = option(True, "continue from the checkpoint if it exists", saved=False)
    checkpoint_every: int = option(100, "training steps between two checkpoints", saved=False)


@dataclass
class HybridConfig(OptimizeConfig, HessianConfig):
    """Options of the hybrid: the optimisation restricted to the top Hessian eigenvectors.

    The span is one Hessian solve at ``n_z`` codes: the stability options (overlap,
    stable_overlap, max_n_z, stable_k) are the hessian method's and are not used here."""

    eigen: int | None = option(None, "eigenvectors spanning the search space (default: k)")


def learn_svd(G, config: SVDConfig) -> Learned:
    from steerlab.methods.paramspace.learn import learn_svd
    return learn_svd(G, config)


def learn_hessian(G, config: HessianConfig) -> Learned:
    from steerlab.methods.paramspace.learn import learn_hessian
    return learn_hessian(G, config)


def learn_optimize(G, config: OptimizeConfig) -> Learned:
    from steerlab.methods.paramspace.learn import learn_optimize
    return learn_optimize(G, config)


def learn_hybrid(G, config: HybridConfig) -> Learned:
    from steerlab.methods.paramspace.learn import learn_hybrid
    return learn_hybrid(G, config)


# ----------------------------------------------------------------------------- latent space, no edit
_LAYERS_HELP = ("StyleGAN: the w+ rows the directions move (and, for sefa, whose style affines are factorised), "
                "e.g. 0-3 or 0,2,4; default: all")


@dataclass
class LatentConfig(MethodConfig):
    """Options of every latent-family method: how many directions and their alpha range."""

    k: int = option(8, "number of directions")
    limit: float = option(3.0, "alpha range +-limit, in standard deviations of the latent along each direction")


@dataclass
class SeFaConfig(LatentConfig):
    """Options of SeFa (closed form: the seed only draws the latents that measure each direction's spread)."""

    layers: str | None = option(None, _LAYERS_HELP)


@dataclass
class GANSpaceConfig(LatentConfig):
    """Options of GANSpace."""

    n_samples: int = option(5000, "latents sampled for the PCA")
    layers: str | None = option(None, _LAYERS_HELP)
    feature_layer: str | None = option(None, "models without w: the module whose output is PCA'd and regressed "
                                             "to z (default: the first conv / linear layer)")


@dataclass
class BoundaryConfig(MethodConfig):
    """Options of the InterFaceGAN boundary (one direction)."""

    attribute: str = option("box:x", "MEASURE:KEY read from every sample (see steerlab.attributes: box:x, "
                                     "box:area, colour:luminance, face_box:width, a plugin's measure...)")
    condition: str | None = option(None, "a second MEASURE:KEY whose boundary normal is projected out "
                                         "(conditional manipulation)")
    space: str = option("z", "latent space of the samples and the boundary: z, or w where the model has it")
    n_samples: int = option(2000, "latents sampled and scored")
    fraction: float = option(0.25, "share of the scored samples at each end (top / bottom) the linear SVM is fit on")
    limit: float = option(3.0, "alpha range +-limit, in standard deviations of the latent along the normal")
    layers: str | None = option(None, _LAYERS_HELP + " (with space w)")


@dataclass
class LatentDiscoveryConfig(LatentConfig):
    """Options of latent discovery (Voynov & Babenko): directions + reconstructor, trained jointly."""

    space: str = option("z", "latent space of the directions: z, or w where the model has it")
    steps: int = option(1000, "Adam steps of directions and reconstructor")
    batch_size: int = option(16, "image pairs per step (per process under torchrun)")
    lr: float = option(1e-3, "Adam learning rate")
    lam: float = option(0.25, "weight of the shift-regression term against the classification term")
    shift: float = option(6.0, "training shifts eps ~ U[-shift, shift], in standard deviations of a latent coordinate")
    width: int = option(16, "channels of the reconstructor's first stage")
    checkpoint: str | None = option(None, "path stem of a resumable training checkpoint", saved=False)
    resume: bool = option(True, "continue from the checkpoint if it exists", saved=False)


def learn_sefa(G, config: SeFaConfig) -> Learned:
    from steerlab.methods.latent.sefa import learn_sefa
    return learn_sefa(G, config)


def learn_ganspace(G, config: GANSpaceConfig) -> Learned:
    from steerlab.methods.latent.ganspace import learn_ganspace
    return learn_ganspace(G, config)


def learn_boundary(G, config: BoundaryConfig) -> Learned:
    from steerlab.methods.latent.boundary import learn_boundary
    return learn_boundary(G, config)


def learn_latent_discovery(G, config: LatentDiscoveryConfig) -> Learned:
    from steerlab.methods.latent.discovery import learn_latent_discovery
    return learn_latent_discovery(G, config)


# ----------------------------------------------------------------------------- registration
register_method("linear", LinearWalkConfig, learn_linear,
                "linear latent walk G(z + alpha w) for an image edit (Jahanian et al., Eq. 1)")
register_method("nonlinear", NonlinearWalkConfig, learn_nonlinear,
                "nonlinear walk of Euler steps z + NN(z) (Jahanian et al., Eq. 2)")
register_method("nn-linear", NNWalkConfig, learn_nn_linear,
                "walk G(z + alpha NN(z)) with continuous alpha (Jahanian et al., App. A.3)")
register_method("trajectory", TrajectoryConfig, learn_trajectory,
                "a factor's encoding model t = g(<u, z>) from recursive inversions (Plumerault et al.)",
                family="trajectory")
register_method("svd", SVDConfig, learn_svd,
                "top singular directions of a layer's weight (Cherepkov et al., Sec. 4.2)", family="weight")
register_method("hessian", HessianConfig, learn_hessian,
                "top eigenvectors of the perceptual-change Hessian (Cherepkov et al., Sec. 3.3)", family="weight")
register_method("optimize", OptimizeConfig, learn_optimize,
                "weight directions a reconstructor can tell apart (Cherepkov et al., Sec. 3.2)", family="weight")
register_method("hybrid", HybridConfig, learn_hybrid,
                "the optimisation within the top Hessian eigenvectors (Cherepkov et al., Sec. 3.4)",
                family="weight")
register_method("sefa", SeFaConfig, learn_sefa,
                "top eigenvectors of A^T A, A the weight that first projects the latent (Shen & Zhou, SeFa)",
                family="latent")
register_method("ganspace", GANSpaceConfig, learn_ganspace,
                "principal components of w, or of an early layer regressed to z (Härkönen et al., GANSpace)",
                family="latent")
register_method("boundary", BoundaryConfig, learn_boundary,
                "normal of a linear SVM on an attribute of sampled images (Shen et al., InterFaceGAN)",
                family="latent")
register_method("latent-discovery", LatentDiscoveryConfig, learn_latent_discovery,
                "K latent directions a reconstructor can tell apart (Voynov & Babenko)", family="latent")
