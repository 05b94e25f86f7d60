"""BigGAN-deep (Brock et al. 2019) through the ``pytorch-pretrained-biggan`` package, from a local file.

The package (``pip install pytorch-pretrained-biggan==0.1.1``) holds the PyTorch port of
DeepMind's BigGAN-deep generators; its own loader downloads from the internet and unpickles
with ``strict=False``. steerlab never calls it: `load_biggan` reads the package's file format
(a folder with ``pytorch_model.bin`` + ``config.json``, as the package's cache and model hub
store them) with ``torch.load(weights_only=True)``, refuses missing, unexpected or mis-shaped
keys, and builds the package's own ``BigGAN`` module around the weights.

Latent structure. BigGAN-deep feeds ``cond = [z, embed(class)]`` to the input linear layer and
to the conditional batch norms of *every* residual block (in the original, non-deep BigGAN, z
was split into chunks, one per block: the "hierarchical z" Plumerault et al. analyse). Here
each block therefore reads the whole of z; `BigGANGenerator.z_chunks` says so, per level.
For per-level analysis the adapter adds the space ``z+`` (N, num_levels, z_dim): one z per
level (input layer, then each block), the analogue of StyleGAN's w+. ``to_space(z, "z+")``
repeats z, so both spaces give the same image for the same z.

Truncation ``psi`` in (0, 1]: z is drawn from a normal truncated to [-2, 2] times psi, and the
batch norms use the statistics BigGAN stored for that psi (what the package does).
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from steerlab.core.io import FileFormatError, read_json, read_torch_checkpoint
from steerlab.models.base import Generator

WEIGHTS_NAME, CONFIG_NAME = "pytorch_model.bin", "config.json"
_INSTALL = "pip install -c constraints.txt pytorch-pretrained-biggan==0.1.1 (make setup does)"


def _package():
    if importlib.util.find_spec("pytorch_pretrained_biggan") is None:
        raise FileNotFoundError(f"package 'pytorch-pretrained-biggan' is not installed; {_INSTALL}")
    import pytorch_pretrained_biggan as pkg  # imports boto3/requests; nothing is downloaded
    return pkg


def truncated_normal(n: int, dim: int, psi: float, generator: torch.Generator | None = None) -> Tensor:
    """(n, dim) samples of N(0, 1) truncated to [-2, 2] (by redrawing), times ``psi``."""
    z = torch.randn(n, dim, generator=generator)
    bad = z.abs() > 2
    while bool(bad.any()):
        z[bad] = torch.randn(int(bad.sum()), generator=generator)
        bad = z.abs() > 2
    return z * psi


class BigGANGenerator(Generator):
    """Adapter over ``pytorch_pretrained_biggan.BigGAN``; the constructor signature is its config.

    Args:
        biggan_config: the package's ``BigGANConfig`` as a dict (``config.json``).
        truncation: psi in (0, 1].
        name: model name shown in reports.

    Shape:
        - z: (N, z_dim); z+: (N, num_levels, z_dim); classes: (N,) ints in [0, num_classes).
        - output of ``synthesize``: (N, 3, output_dim, output_dim), float32 in [0, 1].
    """

    latent_spaces = ("z", "z+")
    output_range = (-1.0, 1.0)
    fingerprint_scheme = "v1"  # the fingerprints stored with directions since the first release stay valid

    def __init__(self, biggan_config: dict, truncation: float = 0.4, name: str = "biggan"):
        super().__init__()
        if not (0.0 < truncation <= 1.0):
            raise ValueError(f"BigGAN truncation must be in (0, 1], got {truncation}")
        pkg = _package()
        self.biggan_config = json.loads(json.dumps(biggan_config))  # plain JSON types
        self.net = pkg.BigGAN(pkg.BigGANConfig.from_dict(self.biggan_config))
        cfg = self.net.config
        self.name, self.truncation = name, float(truncation)
        self.z_dim, self.num_classes, self.resolution, self.channels = cfg.z_dim, cfg.num_classes, cfg.output_dim, 3
        block = type(self.net.generator.layers[-1])
        self._blocks = [i for i, m in enumerate(self.net.generator.layers) if isinstance(m, block)]
        self.levels = ["generator.gen_z"] + [f"generator.layers.{i}" for i in self._blocks]

    def config(self) -> dict:
        return {"biggan_config": self.biggan_config, "truncation": self.truncation, "name": self.name}

    # ------------------------------------------------------------------ latents
    @property
    def z_chunks(self) -> dict[str, slice]:
        """Which slice of z each level reads: BigGAN-deep gives every level the whole z."""
        return {level: slice(0, self.z_dim) for level in self.levels}

    def sample_z(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Truncated-normal z (n, z_dim) scaled by ``truncation``, on the model's device."""
        return truncated_normal(n, self.z_dim, self.truncation, generator).to(self.device)

    def to_space(self, z: Tensor, space: str = "z", classes: Tensor | None = None) -> Tensor:
        self.check_space(space)
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z for '{self.name}' must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        return z if space == "z" else z[:, None].repeat(1, len(self.levels), 1)

    # ------------------------------------------------------------------ synthesis
    def _synthesize(self, latent: Tensor, space: str, classes: Tensor | None) -> Tensor:
        n, k = latent.shape[0], len(self.levels)
        want = (self.z_dim,) if space == "z" else (k, self.z_dim)
        if tuple(latent.shape[1:]) != want:
            raise ValueError(f"a latent in space '{space}' of '{self.name}' must have shape "
                             f"(N, {', '.join(map(str, want))}), got {tuple(latent.shape)}")
        zs = latent[:, None].expand(-1, k, -1) if space == "z" else latent  # (N, levels, z_dim)
        gen, t = self.net.generator, self.truncation
        embed = self.net.embeddings(F.one_hot(classes, self.num_classes).to(latent.dtype))  # (N, z_dim)
        conds = [torch.cat([zs[:, i], embed], 1) for i in range(k)]
        width = self.net.config.channel_width
        # The input layer's output is laid out (4, 4, C) as in TF; the package permutes it likewise.
        x = gen.gen_z(conds[0]).view(n, 4, 4, 16 * width).permute(0, 3, 1, 2)
        level = 1
        for i, layer in enumerate(gen.layers):
            if i in self._blocks:
                x = layer(x, conds[level], t)
                level += 1
            else:  # self-attention
                x = layer(x)
        x = gen.conv_to_rgb(gen.relu(gen.bn(x, t)))[:, :3]
        out = torch.tanh(x)
        if not bool(torch.isfinite(out.detach()).all()):
            raise ValueError(f"BigGAN '{self.name}' produced NaN/inf images: its weights are not a trained "
                             "model (e.g. a random config saved before any spectral-norm power iteration, or "
                             "uninitialised batch-norm parameters)")
        return out

    def shiftable_weights(self) -> dict[str, Tensor]:
        """The conv kernels (spectral-norm ``weight_orig``) by name, for weight-space navigation."""
        return {n: p for n, p in self.named_parameters() if p.dim() == 4}


def _config_and_weights(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        return path / CONFIG_NAME, path / WEIGHTS_NAME
    return path.with_name(CONFIG_NAME), path


def load_biggan(path: str | Path, *, truncation: float = 0.4, name: str | None = None,
                device: str | torch.device = "cpu") -> BigGANGenerator:
    """Load BigGAN-deep weights in ``pytorch-pretrained-biggan``'s format from a local path.

    Args:
        path: a folder with ``pytorch_model.bin`` and ``config.json`` (e.g. the package's cache
            folder for ``biggan-deep-128``, files renamed), or the ``.bin`` file with
            ``config.json`` beside it.
        truncation: psi in (0, 1].

    Raises:
        FileNotFoundError: missing files or package; FileFormatError: a file that is not such a
        checkpoint, does not fit its config, holds NaN/inf, or yields NaN images.
    """
    path = Path(path)
    config_path, weights_path = _config_and_weights(path)
    for p in (config_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} is missing; a BigGAN folder holds {WEIGHTS_NAME} and {CONFIG_NAME}")
    cfg = read_json(config_path)
    if not isinstance(cfg, dict) or not {"z_dim", "layers", "num_classes", "channel_width"} <= set(cfg):
        raise FileFormatError(f"{config_path}: not a pytorch-pretrained-biggan config")
    try:
        G = BigGANGenerator(cfg, truncation=truncation, name=name or weights_path.parent.name)
    except (TypeError, ValueError, IndexError, RuntimeError) as e:
        if isinstance(e, ValueError) and "truncation" in str(e):
            raise
        raise FileFormatError(f"{config_path}: config does not build a BigGAN ({str(e).splitlines()[0][:100]})") from None
    state = read_torch_checkpoint(weights_path)
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise FileFormatError(f"{weights_path}: not a state dict of tensors")
    own = G.net.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    bad = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad:
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                  else f"shape mismatch at {bad[:3]}")
        raise FileFormatError(f"{weights_path}: weights do not fit its config.json ({detail})")
    for k, v in state.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise FileFormatError(f"{weights_path}: tensor {k} contains NaN or inf (uninitialised parameters?)")
    G.net.load_state_dict(state)
    G = G.eval().requires_grad_(False).to(device)
    with torch.no_grad():  # one probe image: random configs can give NaN even with finite weights
        try:
            G.synthesize(G.sample_z(1, generator=torch.Generator().manual_seed(0)),
                         classes=torch.zeros(1, dtype=torch.long, device=G.device))
        except ValueError as e:
            raise FileFormatError(f"{weights_path}: {e}") from None
    return G
