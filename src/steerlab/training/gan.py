"""GAN training, plain or steerable (Jahanian et al. Sec. 4.4, Eq. 3-5), with one GAN step.

`gan_step` is the one discriminator + generator update every GAN steerlab trains goes through
(non-saturating loss, with an optional extra generator term). One loop, `train_gan`, serves
every mode:

- plain: the usual non-saturating GAN loss;
- ``aug_edit``: the discriminator also sees real images with the edit applied at random alphas
  ("argmin W + aug": the data now covers the transformation);
- ``joint_edit``: a linear walk w is learned *with* the generator (``argmin G, W``):
  L_G = L_GAN(G(z + alpha_g w)) + lambda * L2(G(z + alpha_g w), edit(G(z), alpha_t)) (Eq. 3-4), the
  discriminator seeing edited real images (Eq. 5);
- ``ms_weight`` > 0: the mode-seeking term of Mao et al. (MSGAN, CVPR 2019) against a
  class-conditional generator collapsing to one image per class (see `mode_seeking_term`).

Any steerlab `Generator` works, with any discriminator ``D(images, classes) -> logits (N,)``;
`DCGANDiscriminator` is the default. Checkpoints (G, D, both optimisers, w, RNG, step) are
safetensors + JSON, written atomically every ``checkpoint_every`` steps; ``resume=True`` continues
bit-for-bit where the last checkpoint left off.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from steerlab.core import checks
from steerlab.core.io import FileFormatError, read_json, read_tensors, write_json, write_tensors
from steerlab.edits import get_edit
from steerlab.metrics.losses import masked_l2
from steerlab.models.base import Generator


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator with a projection head for class conditioning (Miyato & Koyama).

    Input (N, C, R, R) in [0, 1]; returns logits (N,).
    """

    def __init__(self, resolution: int = 32, channels: int = 3, width: int = 64, num_classes: int = 0):
        super().__init__()
        n_down = int(round(math.log2(resolution / 4)))
        layers, c_in = [], channels
        for i in range(n_down):
            c_out = width * 2 ** i
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)  # (N, c_in, 4, 4)
        self.head = nn.Linear(c_in * 16, 1)
        self.embed = nn.Embedding(num_classes, c_in * 16) if num_classes else None

    def forward(self, x: Tensor, classes: Tensor | None = None) -> Tensor:
        h = self.features(x * 2 - 1).flatten(1)
        out = self.head(h)[:, 0]
        if self.embed is not None:
            out = out + (self.embed(classes) * h).sum(1)
        return out


@dataclass
class GANConfig:
    steps: int = 5000
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    seed: int = 0
    aug_edit: str | None = None      # discriminator sees edit(x, alpha) for real x
    aug_prob: float = 0.5            # fraction of real images that are edited
    joint_edit: str | None = None    # learn w jointly with G (Eq. 3)
    joint_weight: float = 1.0        # lambda on the edit loss
    joint_lr: float | None = None    # Adam lr of w (None: the generator's lr)
    ms_weight: float = 0.0           # weight of the mode-seeking term (0: off; not with joint_edit)
    checkpoint_every: int = 500


def sample_real(images: Tensor, labels: Tensor | None, n: int, g: torch.Generator):
    """``n`` training images drawn with replacement (and their labels, or None)."""
    idx = torch.randint(0, images.shape[0], (n,), generator=g)
    return images[idx], None if labels is None else labels[idx]


def gan_step(D: nn.Module, opt_d: torch.optim.Optimizer, opt_g: torch.optim.Optimizer, real: Tensor,
             fake: Tensor, *, real_classes: Tensor | None = None, fake_classes: Tensor | None = None,
             extra: Callable[[], Tensor] | None = None, extra_weight: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """One GAN update: the discriminator step, then the generator step (non-saturating loss).

        L_D = E softplus(-D(x)) + E softplus(D(G(z)))     on ``fake`` detached
        L_G = E softplus(-D(G(z))) + extra_weight * extra()   through ``fake``, D already updated

    Args:
        D: discriminator ``D(images, classes) -> (N,)`` logits.
        opt_d, opt_g: the optimisers of D and of G (and of anything learned with G, e.g. a walk).
        real: (N, C, H, W) real images in [0, 1], with ``real_classes`` (N,) or None.
        fake: (M, C, H, W) this step's generated images *with their graph*, ``fake_classes`` (M,).
        extra: an extra generator term, a scalar (the joint edit loss, the mode-seeking term),
            computed after the discriminator step; None: no term.
        extra_weight: its weight.

    Returns:
        ``(d_loss, g_loss, extra term)`` detached scalars (the term is 0 without ``extra``).
    """
    opt_d.zero_grad(set_to_none=True)
    d_loss = F.softplus(-D(real, real_classes)).mean() + F.softplus(D(fake.detach(), fake_classes)).mean()
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    g_loss = F.softplus(-D(fake, fake_classes)).mean()
    term = extra() if extra is not None else torch.zeros((), device=fake.device)
    (g_loss + extra_weight * term).backward()
    opt_g.step()
    return d_loss.detach(), g_loss.detach(), term.detach()


def mode_seeking_term(fake: Tensor, z: Tensor) -> Tensor:
    """MSGAN's ``1 / (mean|G(z1) - G(z2)| / mean|z1 - z2| + 1e-5)`` over the two halves of a batch.

    Args:
        fake: (B, C, H, W) images whose second half repeats the first half's classes.
        z: (B, z_dim) their codes.

    Returns:
        a scalar, large when G ignores z (different codes, similar images).
    """
    half = fake.shape[0] // 2
    k = min(half, fake.shape[0] - half)
    ratio = (fake[:k] - fake[half:half + k]).abs().mean() / (z[:k] - z[half:half + k]).abs().mean()
    return 1.0 / (ratio + 1e-5)


def train_gan(G: Generator, D: nn.Module, images: Tensor, labels: Tensor | None = None, *,
              config: GANConfig | None = None, checkpoint: str | Path | None = None,
              resume: bool = False, device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """Train ``G`` (and ``D``, and w in joint mode) on ``images``.

    Args:
        G: a steerlab generator in z space (trained in place; switched to eval at the end).
        D: discriminator ``D(x, classes) -> (N,)`` logits.
        images: (N, C, H, W) training images in [0, 1]; ``labels`` (N,) for conditional G.
        config: `GANConfig` (steps, batch, Adam settings, aug / joint edits, mode seeking).
        checkpoint: path stem for ``.safetensors`` + ``.json`` checkpoints.
        resume: continue from ``checkpoint`` if it exists.

    Returns:
        ``{"history": {"d_loss": [...], "g_loss": [...], "edit_loss": [...]}, "w": Tensor | None,
        "seconds": float, "steps": int}``; ``edit_loss`` holds the extra generator term (the
        joint edit loss, or the mode-seeking term; 0 without one).
    """
    cfg = config or GANConfig()
    if images.dim() != 4 or not torch.isfinite(images).all():
        raise ValueError("training images must be finite (N, C, H, W) in [0, 1]")
    if (labels is None) != (not G.num_classes):
        raise ValueError("pass labels exactly when the generator is class-conditional")
    if cfg.ms_weight and cfg.joint_edit:
        raise ValueError("mode seeking (ms_weight > 0) and joint_edit both add a generator term; use one")
    aug = get_edit(cfg.aug_edit) if cfg.aug_edit else None
    joint = get_edit(cfg.joint_edit) if cfg.joint_edit else None
    G.to(device).train().requires_grad_(True)
    D.to(device).train()
    images = images.to(device)
    labels = None if labels is None else labels.to(device)
    w = torch.zeros(joint.alpha_dim if joint else 1, G.z_dim, device=device, requires_grad=bool(joint))
    groups = [{"params": list(G.parameters())}] + ([{"params": [w], "lr": cfg.joint_lr or cfg.lr}] if joint else [])
    opt_g = torch.optim.Adam(groups, lr=cfg.lr, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    g = torch.Generator().manual_seed(cfg.seed)
    history = {"d_loss": [], "g_loss": [], "edit_loss": []}
    start, seconds = 0, 0.0
    if resume and checkpoint and Path(checkpoint).with_suffix(".json").exists():
        start, history, seconds = _load_checkpoint(checkpoint, G, D, opt_g, opt_d, w, g, cfg)
    B, t0 = cfg.batch_size, time.time()
    term_name = "edit" if joint else "ms" if cfg.ms_weight else None
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps,
               desc="train gan" + (" (mode seeking)" if cfg.ms_weight else ""), disable=not progress, leave=False)
    for step in bar:
        x, c = sample_real(images, labels, B, g)
        if aug or joint:
            # Eq. 5: the discriminator sees edited real images (aug also keeps some unedited).
            edit = joint or aug
            keep = torch.rand(B, generator=g) >= (cfg.aug_prob if not joint else 1.0)
            a = edit.sample(B, generator=g).to(device)
            a = torch.where(keep.to(device)[:, None] if a.dim() == 2 else keep.to(device),
                            torch.full_like(a, edit.identity), a)
            x = edit.fn(x, a)[0]
        z = G.sample_z(B, generator=g)
        cf = c
        if cfg.ms_weight and c is not None:  # mode seeking compares pairs of one class: halves share classes
            cf = torch.cat([c[:B // 2], c[:B - B // 2]])
        if joint:
            a_t = joint.sample(B, generator=g).to(device)
            fake = G.synthesize(z + joint.to_g(a_t).reshape(B, -1) @ w, classes=cf)

            def extra() -> Tensor:  # Eq. 3-4: the edit loss of the jointly learned walk
                with torch.no_grad():
                    target, mask = joint.fn(G.synthesize(z, classes=c), a_t)
                return masked_l2(fake, target, mask).mean()
        else:
            fake = G.synthesize(z, classes=cf)
            extra = (lambda: mode_seeking_term(fake, z)) if cfg.ms_weight else None
        losses = gan_step(D, opt_d, opt_g, x, fake, real_classes=c, fake_classes=cf, extra=extra,
                          extra_weight=cfg.joint_weight if joint else cfg.ms_weight)
        checks.check_finite("GAN training", step + 1, *losses)  # read back every step anyway
        for k, v in zip(("d_loss", "g_loss", "edit_loss"), losses):
            history[k].append(round(v.item(), 5))
        shown = {"d": f"{history['d_loss'][-1]:.3f}", "g": f"{history['g_loss'][-1]:.3f}"}
        if term_name:
            shown[term_name] = f"{history['edit_loss'][-1]:.2f}"
        bar.set_postfix(shown, refresh=False)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:  # never a NaN checkpoint or model
            checks.check_finite("GAN training", step + 1, *G.parameters(), w)
        if checkpoint and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            _save_checkpoint(checkpoint, G, D, opt_g, opt_d, w, g, step + 1, history,
                             seconds + time.time() - t0, cfg)
    G.eval().requires_grad_(False)
    D.eval()
    return {"history": history, "w": w.detach().clone() if joint else None,
            "seconds": seconds + time.time() - t0, "steps": cfg.steps}


# ----------------------------------------------------------------------------- checkpoints
def _flatten_opt(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict, list]:
    sd = opt.state_dict()
    tensors = {f"{prefix}.{i}.{k}": v for i, st in sd["state"].items() for k, v in st.items()}
    return tensors, sd["param_groups"]


def _restore_opt(prefix: str, opt: torch.optim.Optimizer, tensors: dict, groups: list) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            _, i, k = key.split(".", 2)
            state.setdefault(int(i), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


def _save_checkpoint(stem, G, D, opt_g, opt_d, w, g, step, history, seconds, cfg) -> None:
    stem = Path(stem)
    tensors = {**{f"G.{k}": v for k, v in G.state_dict().items()},
               **{f"D.{k}": v for k, v in D.state_dict().items()}, "w": w.detach(), "rng": g.get_state()}
    tg, groups_g = _flatten_opt("optG", opt_g)
    td, groups_d = _flatten_opt("optD", opt_d)
    write_tensors(stem.with_suffix(".safetensors"), {**tensors, **tg, **td})
    write_json(stem.with_suffix(".json"), {"step": step, "history": history, "seconds": seconds,
                                           "config": asdict(cfg), "groups_g": groups_g, "groups_d": groups_d})


def _load_checkpoint(stem, G, D, opt_g, opt_d, w, g, cfg):
    stem = Path(stem)
    meta = read_json(stem.with_suffix(".json"))
    if meta.get("config", {}).get("joint_edit") != cfg.joint_edit:
        raise FileFormatError(f"{stem}: checkpoint was trained with another configuration")
    t = read_tensors(stem.with_suffix(".safetensors"))
    try:
        G.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("G.")})
        D.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("D.")})
        _restore_opt("optG", opt_g, t, meta["groups_g"])
        _restore_opt("optD", opt_d, t, meta["groups_d"])
    except (RuntimeError, KeyError, ValueError) as e:
        raise FileFormatError(f"{stem}: checkpoint does not fit this model ({str(e).splitlines()[0][:120]})") from None
    with torch.no_grad():
        w.copy_(t["w"])
    g.set_state(t["rng"])
    return meta["step"], meta["history"], meta["seconds"]

