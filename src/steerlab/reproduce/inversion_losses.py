"""`steerlab reproduce inversion-losses`: Plumerault et al. App. C, Figs. 6-7 and Table 2.

How well does inversion by optimisation (Eq. 1-2) reconstruct real images, for each
reconstruction loss, with and without the norm-ball constraint ||z|| <= sqrt(d)?

The same dataset images (the model's training distribution, drawn with a held-out seed) are
inverted from the same seeded starts with: MSE, DSSIM, and the Gaussian-blurred MSE of Eq. 3 for
every blur sigma (the standard deviation in pixels of the kernel that blurs both the target and
the reconstruction), each once inside the ball (Eq. 2) and once unconstrained (Eq. 1). Every
reconstruction is then judged by the same yardsticks, whatever loss produced it: the pixel MSE
against the target, the ST-LPIPS perceptual distance (the paper's Table 2 uses LPIPS, whose
ImageNet backbone cannot be loaded here; `steerlab.metrics.perceptual`) and ||z|| / sqrt(d).
Per image, the blurred loss at sigma 3 is compared with MSE and DSSIM (paired: the fraction of
images it reconstructs closer) and inside vs outside the ball.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from steerlab.core.checkpoint import DEFAULT_EVERY
from steerlab.methods.trajectories.invert import inversion_loss

PAPER_TABLE2 = {"mse": (0.57, 0.14), "dssim": (0.58, 0.12), "blurred sigma 3": (0.52, 0.12)}  # LPIPS mean, std
PAPER_CLAIMS = ("sigma 3 and 5 reconstruct well; larger sigmas lose accuracy (Fig. 6)",
                "the blurred loss is perceptually closest: LPIPS 0.52 vs 0.57 (MSE) and 0.58 (DSSIM) (Table 2)",
                "without the ball constraint the blurred loss gives artefacts (Fig. 7)")


def loss_configs(sigmas) -> list[tuple[str, str, float]]:
    """``(label, loss name, sigma)`` for MSE, DSSIM and the blurred loss at every sigma."""
    return [("mse", "l2", 0.0), ("dssim", "dssim", 0.0)] + [(f"blurred sigma {s:g}", "blurred", float(s))
                                                            for s in sigmas]


def stacked_loss(configs: list[tuple[str, str, float]], n: int):
    """One loss for ``len(configs)`` blocks of ``n`` targets, block i scored by configs[i]'s loss.

    `invert` sums per-target losses and Adam's update is elementwise, so each block follows
    exactly the path it would follow inverted alone with its own loss (one batch instead of many).
    Returns ``fn(x, y, mask) -> (len(configs) * n,)``.
    """
    fns = [inversion_loss(loss, sigma or 3.0) for _, loss, sigma in configs]

    def loss(x, y, mask=None):
        return torch.cat([fn(x[i * n:(i + 1) * n], y[i * n:(i + 1) * n],
                             None if mask is None else mask[i * n:(i + 1) * n]) for i, fn in enumerate(fns)])
    loss.__name__ = "+".join(label for label, _, _ in configs)
    return loss


def reconstruction_errors(recon: torch.Tensor, target: torch.Tensor, z: torch.Tensor) -> dict[str, list[float]]:
    """Per image, the yardsticks every reconstruction is judged by, whatever loss made it.

    Args:
        recon, target: (N, C, H, W) in [0, 1].
        z: (N, d) the inverted latents.

    Returns:
        ``{"pixel_mse": (N,), "stlpips": (N,) ST-LPIPS (alex) distance, "z_norm_ratio": (N,)
        ||z|| / sqrt(d)}`` as lists.
    """
    from steerlab.metrics.perceptual import perceptual_distance
    with torch.no_grad():
        mse = (recon - target).pow(2).mean(dim=(1, 2, 3))
        lp = perceptual_distance(recon, target).reshape(-1)
    return {"pixel_mse": mse.tolist(), "stlpips": lp.tolist(),
            "z_norm_ratio": (z.norm(dim=1) / z.shape[1] ** 0.5).tolist()}


def reproduce_inversion_losses(out: str | os.PathLike = "runs/inversion-losses", *, model="shapes",
                               n_images: int = 6, steps: int = 80, lr: float = 0.1,
                               sigmas: tuple[float, ...] = (1.0, 3.0, 5.0, 8.0), n_show: int = 6,
                               seed: int = 0, overwrite: bool = False, device: str = "cpu",
                               progress: bool = True, resume: bool = False,
                               checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Reconstruction error vs blur sigma, MSE / DSSIM / blurred, in and out of the ball (Figs. 6-7).

    Args:
        out: run folder (``metrics.json``, ``error_vs_sigma.png``, ``fig6_sigma.png``,
            ``fig7_losses.png``, ``report.html``).
        model: a generator whose card names its dataset (default ``shapes``); a model without
            one inverts held-out G(z) instead (said in metrics.json, ``targets``).
        n_images: images inverted (the same for every loss), ``steps`` Adam steps at ``lr``.
        sigmas: the blurred loss's kernel standard deviations, in pixels.
        n_show: rows of the figures.
        resume, checkpoint_every: the inversions in the ball and outside it are one sub-run each
            (`_resume.SubRuns`), every loss inverted at once in one batch (`stacked_loss`).

    Returns:
        ``{"out": Path, "metrics": dict, "summary": str}``.
    """
    from steerlab.core import checks, seeds
    from steerlab.core.runs import Run
    from steerlab.data.registry import get_dataset
    from steerlab.methods.trajectories import invert
    from steerlab.models import Generator, load_model
    from steerlab.reproduce._resume import SubRuns

    checks.check_int("n_images", n_images, 2, checks.MAX_COUNT)
    checks.check_int("steps", steps, 1, checks.MAX_STEPS)
    checks.check_float("lr", lr, 0, 100)
    checks.check_int("n_show", n_show, 1, 64)
    sigmas = tuple(float(s) for s in sigmas)
    if not sigmas or not all(np.isfinite(s) and 0 < s <= 64 for s in sigmas):
        raise ValueError(f"sigmas must be blur standard deviations in (0, 64] pixels, got {sigmas}")
    if 3.0 not in sigmas:
        raise ValueError(f"sigmas must include 3 (the paper's choice, compared per image), got {sigmas}")
    G = model if isinstance(model, Generator) else load_model(model, device=device)
    card = getattr(G, "card", {}) or {}
    if "dataset" in card:
        targets, labels, _ = get_dataset(card["dataset"], n_images, card.get("resolution_data", G.resolution),
                                         seed + seeds.EVAL_HELD_OUT)
        what = f"{n_images} images of the '{card['dataset']}' data set (held-out seed)"
        classes = labels.to(G.device) if G.num_classes else None
    else:
        z_t, classes = seeds.held_out(G, n_images, seed)
        with torch.no_grad():
            targets = G.synthesize(z_t, classes=classes)
        what = f"{n_images} held-out G(z) (model has no data set)"
    targets = targets.to(G.device).float()
    z_init = G.sample_z(n_images, generator=torch.Generator().manual_seed(seed))
    configs = loss_configs(sigmas)
    config = dict(model=G.name, fingerprint=G.fingerprint, n_images=n_images, steps=steps, lr=lr,
                  sigmas=list(sigmas), seed=seed)
    t_start = time.time()
    with Run("reproduce inversion-losses", out, config=config, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, config, resume=resume, every=checkpoint_every)
        results_seconds: dict[str, float] = {}
        results, recons = {}, {}
        for ball in (True, False):
            c = "ball" if ball else "free"
            saved = subs.done(c)
            if saved is not None:
                z, secs = saved[0]["z"].to(G.device), saved[1]["seconds"]
            else:  # every loss at once: one batch of len(configs) x n_images targets
                t0 = time.time()
                inv = invert(G, targets.repeat(len(configs), 1, 1, 1), loss=stacked_loss(configs, n_images),
                             steps=steps, lr=lr, z_init=z_init.repeat(len(configs), 1),
                             classes=None if classes is None else classes.repeat(len(configs)), constrain=ball,
                             progress=progress)
                z, secs = inv.z, time.time() - t0
                subs.finish(c, {"z": z.cpu()}, {"seconds": secs})
            with torch.no_grad():
                images = G.synthesize(z, classes=None if classes is None else classes.repeat(len(configs)))
            for i, (label, _, sigma) in enumerate(configs):
                part = slice(i * n_images, (i + 1) * n_images)
                key = f"{label}, {c}"
                recons[key] = images[part]
                results[key] = {"loss": label, "sigma": sigma or None, "ball": ball,
                                **reconstruction_errors(images[part], targets, z[part])}
            results_seconds[c] = round(secs, 1)
        metrics = {"model": G.name, "fingerprint": G.fingerprint, "targets": what, "n_images": n_images,
                   "steps": steps, "lr": lr, "sigmas": list(sigmas), "z_dim": G.z_dim,
                   "inversion_seconds": results_seconds,
                   "perceptual": "ST-LPIPS (alex), steerlab.metrics.perceptual", "results": results,
                   "table": _table(results), "paired": _paired(results), "paper_table2": PAPER_TABLE2,
                   "paper_claims": list(PAPER_CLAIMS)}
        metrics["summary"] = summary(metrics)
        metrics["seconds"] = round(time.time() - t_start, 1)
        metrics = run.write_metrics(metrics)
        _figures(tmp, metrics, targets[:n_show], {k: v[:n_show] for k, v in recons.items()}, sigmas)
        _report(tmp, metrics)
    subs.clear()
    return {"out": Path(out), "metrics": metrics, "summary": metrics["summary"]}


def _table(results: dict) -> dict:
    """Per (loss, constraint): mean, std, median, 25th / 75th percentile of each yardstick."""
    out = {}
    for key, r in results.items():
        row = {}
        for y in ("pixel_mse", "stlpips", "z_norm_ratio"):
            v = np.asarray(r[y], dtype=np.float64)
            q25, med, q75 = np.percentile(v, [25, 50, 75])
            row[y] = {"mean": float(v.mean()), "std": float(v.std()), "median": float(med),
                      "q25": float(q25), "q75": float(q75)}
        out[key] = row
    return out


def _paired(results: dict) -> dict:
    """Per image: the blurred loss at sigma 3 against MSE and DSSIM (ball), and in vs out of the ball.

    ``sign=-1``: the asked way is a *lower* error for the second of each pair."""
    from steerlab.metrics.stats import paired_change
    blur = "blurred sigma 3"
    pairs = {"blurred3_vs_mse": ("mse, ball", f"{blur}, ball"),
             "blurred3_vs_dssim": ("dssim, ball", f"{blur}, ball"),
             "ball_vs_free_blurred3": (f"{blur}, free", f"{blur}, ball"),
             "ball_vs_free_mse": ("mse, free", "mse, ball")}
    return {name: {y: paired_change(results[a][y], results[b][y], sign=-1) for y in ("pixel_mse", "stlpips")}
            | {"first": a, "second": b} for name, (a, b) in pairs.items()}


def summary(m: dict) -> str:
    t, p = m["table"], m["paired"]
    lines = [f"{m['targets']}, {m['steps']} Adam steps: median ST-LPIPS / pixel MSE / ||z||/sqrt(d) (ball | free)"]
    for key in t:
        if key.endswith("ball"):
            free = key[:-4] + "free"
            lines.append(f"  {key[:-6]:<18} " + " | ".join(
                f"{t[k]['stlpips']['median']:.3f} / {t[k]['pixel_mse']['median']:.4f} / "
                f"{t[k]['z_norm_ratio']['median']:.2f}" for k in (key, free)))
    for name in ("blurred3_vs_mse", "blurred3_vs_dssim", "ball_vs_free_blurred3"):
        c = p[name]["stlpips"]
        lines.append(f"  {name}: ST-LPIPS lower for {c['asked_way']:.0%} of images (median change "
                     f"{c['median']:+.4f})")
    return "\n".join(lines)


def _figures(tmp: Path, m: dict, targets, recons: dict, sigmas) -> None:
    from steerlab.report.plots import grid_image, save_png
    from steerlab.report.trajectories import plot_error_vs_sigma
    plot_error_vs_sigma(tmp / "error_vs_sigma.png", m["table"], sigmas)
    n = targets.shape[0]
    for name, cols in (("fig6_sigma", [f"blurred sigma {s:g}, ball" for s in sigmas]),
                       ("fig7_losses", [f"{loss}, {c}" for loss in ("mse", "dssim", "blurred sigma 3")
                                        for c in ("ball", "free")])):
        rows = [torch.stack([targets[i].cpu()] + [recons[c][i].cpu() for c in cols]) for i in range(n)]
        labels = ["target"] + [c.replace("blurred sigma ", "blur s=") for c in cols]
        save_png(grid_image(rows, col_labels=labels, row_labels=[f"image {i}" for i in range(n)], scale=3),
                 tmp / f"{name}.png")


def _report(tmp: Path, m: dict) -> None:
    from steerlab.report import html
    rows = [[k, *(f"{v[y]['median']:.4f} [{v[y]['q25']:.4f}, {v[y]['q75']:.4f}]"
                  for y in ("stlpips", "pixel_mse", "z_norm_ratio")),
             f"{v['stlpips']['mean']:.3f} ± {v['stlpips']['std']:.3f}"] for k, v in m["table"].items()]
    paired = [[name, f"{c['first']} -> {c['second']}", *(f"{c[y]['median']:+.4f}; {c[y]['asked_way']:.0%}"
                                                        for y in ("stlpips", "pixel_mse"))]
              for name, c in m["paired"].items()]
    paper = [[k, f"{a:.2f} ± {b:.2f}"] for k, (a, b) in m["paper_table2"].items()]
    sections = [
        ("Claims (Plumerault et al. App. C)", html.text("; ".join(m["paper_claims"]) + ".")),
        ("Setting", html.text(f"{m['targets']} inverted with {m['steps']} Adam steps (lr {m['lr']}) from the same "
                              f"seeded starts; 'ball': ||z|| <= sqrt({m['z_dim']}) (Eq. 2), 'free': unconstrained "
                              f"(Eq. 1). Perceptual yardstick: {m['perceptual']}.")),
        ("Summary", html.text(m["summary"])),
        ("Reconstruction error vs sigma", html.image("error_vs_sigma.png", "error vs sigma")),
        ("Per loss (median [25th, 75th percentile] over images)",
         html.table(["loss, constraint", "ST-LPIPS", "pixel MSE", "||z|| / sqrt(d)", "ST-LPIPS mean ± std"], rows)
         + html.text("The paper's Table 2 (LPIPS, 1000 ImageNet images, BigGAN, 3000 steps):")
         + html.table(["loss", "LPIPS mean ± std"], paper)),
        ("Per image", html.text("Paired over images, the second minus the first: median change; fraction of "
                                "images whose error is lower with the second.")
         + html.table(["pair", "first -> second", "ST-LPIPS", "pixel MSE"], paired)),
        ("Fig. 6: the blurred loss per sigma (ball)", html.image("fig6_sigma.png", "fig6")),
        ("Fig. 7: losses, with and without the ball", html.image("fig7_losses.png", "fig7")),
    ]
    html.write_report(tmp / "report.html", "reproduce: inversion losses and the norm-ball constraint", sections)
