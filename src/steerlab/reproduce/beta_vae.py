"""`steerlab reproduce beta-vae`: Plumerault et al. Sec. 3.3 / Fig. 5 on procedural dSprites.

For each beta in {1, 5, 10, 20}: a beta-VAE (App. B) is trained on dSprites (or the bundled
weights are used), the horizontal-position direction is found in its decoder with the
recursive trajectories and the encoding model (shift_x, blurred loss, sigma 3), and the
evaluation of Sec. 3.1 is run with the exact pixel barycentre: for s in [-3, 3], render
z - <z, u> u + s u and measure x. The paper's claim: the std of x per s falls as beta rises
(more disentangled latents give more precise control), and the measured x follows an erf of s
(the dataset's positions are uniform, Eq. 7).

Default training is cut to fit a CPU (2,000 steps of batch 64 from a 20,000-image pool);
``full=True`` is the paper's protocol (1e5 steps of batch 128 drawn from all 737,280 images).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from scipy.optimize import curve_fit
from scipy.special import erf
from scipy.stats import spearmanr

from steerlab.core import seeds
from steerlab.core.checkpoint import DEFAULT_EVERY
from steerlab.core.runs import Run
from steerlab.data.dsprites import MARGIN_PX, RESOLUTION, sample_dsprites
from steerlab.evaluation.trajectories import sweep_factor
from steerlab.methods.trajectories import learn_trajectory_direction, move_to
from steerlab.models import load_model, save_generator
from steerlab.models.vae import BetaVAE, train_beta_vae
from steerlab.report import html
from steerlab.report.plots import grid_image, line_plot, save_png
from steerlab.report.trajectories import plot_factor_sweeps
from steerlab.reproduce._resume import SubRuns, direction_from, direction_tensors, load_module, module_tensors

__all__ = ["reproduce_beta_vae", "train_dsprites_vae", "bundled_name", "x_code_linearity", "erf_fit", "BETAS", "X_HALF_RANGE"]

BETAS = (1.0, 5.0, 10.0, 20.0)
# dSprites centres span MARGIN .. 63 - MARGIN px: x in the data is uniform with this half-range
X_HALF_RANGE = (RESOLUTION - 1 - 2 * MARGIN_PX) / 2 / RESOLUTION


def train_dsprites_vae(beta: float, *, steps: int = 2000, batch_size: int = 64, n_train: int | None = 20000,
                       seed: int = 0, device: str = "cpu", progress: bool = True) -> tuple[BetaVAE, dict]:
    """Train the App. B beta-VAE on procedural dSprites.

    Args:
        n_train: size of a fixed training pool drawn once (uint8, 4 kB an image); ``None``
            draws every batch afresh from all 737,280 images (the full protocol).
    """
    if n_train is None:
        def sample(n, g):
            return sample_dsprites(n, generator=g, device=device).images
    else:
        pool_draw = seeds.generator(seed, seeds.DSPRITES_POOL)
        pool = sample_dsprites(n_train, generator=pool_draw).images.to(torch.uint8)

        def sample(n, g):
            return pool[torch.randint(0, n_train, (n,), generator=g)].float()
    return train_beta_vae(sample, beta=beta, steps=steps, batch_size=batch_size, seed=seed,
                          name=bundled_name(beta, seed), device=device, progress=progress)


def erf_fit(s: Sequence[float], x: Sequence[float]) -> dict:
    """Least-squares x = c + a erf(s / (sqrt(2) b)): Eq. 7 predicts b = 1 and a = X_HALF_RANGE."""
    s, x = np.asarray(s, float), np.asarray(x, float)
    ok = np.isfinite(x)
    try:
        (c, a, b), _ = curve_fit(lambda s, c, a, b: c + a * erf(s / (np.sqrt(2) * b)), s[ok], x[ok],
                                 p0=(float(np.mean(x[ok])), 0.3, 1.0), maxfev=20000)
    except (RuntimeError, ValueError):
        return {"c": float("nan"), "a": float("nan"), "b": float("nan"), "r2": float("nan")}
    pred = c + a * erf(s[ok] / (np.sqrt(2) * b))
    r2 = 1 - np.sum((x[ok] - pred) ** 2) / max(np.sum((x[ok] - x[ok].mean()) ** 2), 1e-12)
    return {"c": float(c), "a": float(a), "b": float(b), "r2": float(r2)}


@torch.no_grad()
def x_code_linearity(vae: BetaVAE, n: int = 2000, seed: int = 12345) -> float:
    """R^2 of the true sprite x regressed linearly on the encoder's mean code (held-out dSprites).

    A disentanglement score of the one factor we control: near 1 when x lives on a line in the
    latent space (a linear u can follow it), lower when the code bends it across several dims.
    """
    data = sample_dsprites(n, generator=torch.Generator().manual_seed(seed))
    mu = vae.encode(data.images.to(vae.device))[0].double().cpu()
    x = data.factors["pos_x"].double()
    design = torch.cat([mu, torch.ones(n, 1, dtype=torch.float64)], 1)
    fit = design @ torch.linalg.lstsq(design, x[:, None]).solution
    return float(1 - ((x - fit[:, 0]) ** 2).sum() / ((x - x.mean()) ** 2).sum())


def bundled_name(beta: float, seed: int) -> str:
    """Zoo name of the bundled VAE trained with ``beta`` and ``seed`` (seed 0 has no suffix)."""
    return f"dsprites-vae-b{beta:g}" + (f"-s{seed}" if seed else "")


def reproduce_beta_vae(out: str | os.PathLike = "runs/beta-vae", *, betas: Sequence[float] = BETAS,
                       seeds: Sequence[int] = (0, 1, 2), pretrained: bool = False, full: bool = False,
                       train_steps: int = 2000, batch_size: int = 64, n_train: int = 20000,
                       n_trajectories: int = 32, T: float = 0.2, n_steps: int = 10, steps_per_target: int = 50,
                       n_eval: int = 64, seed: int = 0, overwrite: bool = False, device: str = "cpu",
                       progress: bool = True, resume: bool = False, checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Reproduce Fig. 5 and write a run folder (see `steerlab reproduce beta-vae --help`).

    How disentangled a beta-VAE comes out depends on its training seed as much as on beta
    (Locatello et al., 2019), so each beta is trained (or loaded) once per training seed and the
    std is averaged over them.

    Args:
        out: run folder: ``metrics.json`` (``std_per_beta``: mean over the seeds; per seed in
            ``std_per_beta_per_seed``), ``fig5.png`` (a row per seed), ``strips.png``,
            ``training.png``, ``report.html``, and per beta and seed
            ``direction-b{beta}[-s{seed}].safetensors`` and, when trained here,
            ``models/dsprites-vae-b{beta}[-s{seed}].safetensors``.
        betas: the KL weights.
        seeds: training seeds of the VAEs (the bundled weights hold seeds 0, 1 and 2).
        pretrained: use the bundled ``dsprites-vae-b{beta}[-s{seed}]`` weights instead of training.
        full: the paper's training protocol (1e5 steps, batch 128, all 737,280 images).
        train_steps, batch_size, n_train: the quick protocol (ignored with ``full``).
        n_trajectories, T, n_steps, steps_per_target: Algorithm 1 on shift_x.
        n_eval: held-out samples per s in the evaluation (s = -3 .. 3, step 0.5).
        seed: seed of the trajectories and the evaluation draws.
        resume, checkpoint_every: each finished model (training, direction, evaluation) is kept in
            a checkpoint beside ``out``; ``resume`` continues a run that died from the next model
            (`_resume.SubRuns`; an unfinished one starts over).

    Returns:
        ``{"out": Path, "metrics": dict}``.
    """
    if not betas:
        raise ValueError("give at least one beta")
    if any(not (b >= 0 and np.isfinite(b)) for b in betas):
        raise ValueError(f"betas must be finite and >= 0, got {list(betas)}")
    if not seeds or any(int(k) != k or k < 0 for k in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers >= 0, got {list(seeds)}")
    if pretrained:  # fail before any work on a model that is not bundled
        for beta in betas:
            for k in seeds:
                load_model(bundled_name(beta, k))
    out = Path(out)
    s_values = np.linspace(-3, 3, 13)
    with Run("reproduce beta-vae", out, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, dict(betas=list(betas), seeds=list(seeds), pretrained=pretrained, full=full,
                                 train_steps=train_steps, batch_size=batch_size, n_train=n_train,
                                 n_trajectories=n_trajectories, T=T, n_steps=n_steps,
                                 steps_per_target=steps_per_target, n_eval=n_eval, seed=seed),
                       resume=resume, every=checkpoint_every)
        sweeps, strips, curves, per_beta = {}, [], {}, {}
        for i, (k, beta) in enumerate((k, beta) for k in seeds for beta in betas):
            key, name = f"{beta:g}", bundled_name(beta, k)
            if progress:  # the progress bars below are per phase: say which model they belong to
                print(f"beta-vae model {i + 1}/{len(seeds) * len(betas)}: beta {key}, training seed {k}",
                      file=sys.stderr, flush=True)
            blank = None if pretrained else BetaVAE(beta=beta, name=name)  # drawn before the random state is restored
            saved = subs.done(f"b{key}-s{k}")
            if saved is not None:  # a finished sub-run: its model, its direction and its numbers
                tensors, state = saved
                G = load_model(name, device=device) if pretrained else load_module(blank.to(device), tensors, "G")
                d = direction_from(tensors, state["direction"], "d")
                entry = per_beta.setdefault(key, {})[str(k)] = state["entry"]
                if not pretrained:
                    curves[f"beta {key}, seed {k}"] = (np.arange(1, len(state["rec_curve"]) + 1) * 50, state["rec_curve"])
                    save_generator(G, tmp / "models" / name,
                                   card={"description": f"beta-VAE (beta={key}, seed {k}) on procedural dSprites",
                                         "training": entry["training"]})
                d.save(tmp / f"direction-{name.removeprefix('dsprites-vae-')}")
                sweeps[f"beta = {key}, seed {k}"] = state["sweep"]
                strips += _strip(G, d, s_values[::2], seed)
                continue
            t0 = time.time()
            if pretrained:
                G = load_model(name, device=device)
                train_log = {"source": "bundled weights", **G.card.get("training", {})}
            else:
                G, log = train_dsprites_vae(beta, steps=100_000 if full else train_steps,
                                            batch_size=128 if full else batch_size,
                                            n_train=None if full else n_train, seed=k, device=device,
                                            progress=progress)
                curves[f"beta {key}, seed {k}"] = (np.arange(1, len(log["rec_curve"]) + 1) * 50, log["rec_curve"])
                train_log = {"source": "trained in this run", "steps": 100_000 if full else train_steps,
                             "batch_size": 128 if full else batch_size, "seed": k,
                             "n_train": "all 737280" if full else n_train, "seconds": log["seconds"],
                             "final_reconstruction_bce": log["rec_curve"][-1], "final_kl": log["kl_curve"][-1]}
                save_generator(G, tmp / "models" / name,
                               card={"description": f"beta-VAE (beta={key}, seed {k}) on procedural dSprites",
                                     "training": train_log})
            train_s = time.time() - t0
            t0 = time.time()
            d, data, fit = learn_trajectory_direction(
                G, "shift_x", n_trajectories=n_trajectories, T=T, n_steps=n_steps,
                steps_per_target=steps_per_target, loss="blurred", sigma=3.0, seed=seed, progress=progress)
            traj_s = time.time() - t0
            sweep = sweep_factor(G, d, "pixels:x", s_values=s_values, n=n_eval, seed=seed)
            # what else moves along u: the vertical position (should not) and vanishing sprites
            ys = np.array(sweep_factor(G, d, "pixels:y", s_values=s_values, n=n_eval, seed=seed)["values"])
            with np.errstate(all="ignore"):
                y_range = float(np.nanmean(np.nanmax(ys, 0) - np.nanmin(ys, 0)))
            d.metrics.update(std_mean=sweep["std_mean"])
            d.save(tmp / f"direction-{name.removeprefix('dsprites-vae-')}")
            sweeps[f"beta = {key}, seed {k}"] = sweep
            per_beta.setdefault(key, {})[str(k)] = {
                "std_mean": sweep["std_mean"], "spearman": sweep["spearman_all"],
                "spearman_per_sample": sweep["spearman_per_sample"], "empty_fraction": sweep["nan_fraction"],
                "y_range_along_u": y_range, "monotone_fraction": sweep["monotone_fraction"],
                "fit_r2": fit.r2, "rows_kept": int(data.kept.sum()), "x_code_linear_r2": x_code_linearity(G),
                "error_kept_mean": d.metrics["error_kept_mean"],
                "erf_fit_of_mean_x": erf_fit(s_values, sweep["mean"]),
                "x_range": [float(np.nanmin(sweep["mean"])), float(np.nanmax(sweep["mean"]))],
                "training": train_log, "train_seconds": round(train_s, 1), "trajectory_seconds": round(traj_s, 1)}
            d_tensors, header = direction_tensors(d, "d")
            subs.finish(f"b{key}-s{k}", {**d_tensors, **({} if pretrained else module_tensors(G, "G"))},
                        {"direction": header, "entry": per_beta[key][str(k)], "sweep": sweep,
                         "rec_curve": [] if pretrained else log["rec_curve"]})
            strips += _strip(G, d, s_values[::2], seed)
        per_seed = {key: {k: v["std_mean"] for k, v in runs.items()} for key, runs in per_beta.items()}
        std = {key: float(np.mean(list(v.values()))) for key, v in per_seed.items()}
        order = [std[f"{b:g}"] for b in sorted(betas)]
        falls = {str(k): bool(all(per_seed[f"{a:g}"][str(k)] > per_seed[f"{b:g}"][str(k)]
                                  for a, b in zip(sorted(betas), sorted(betas)[1:]))) for k in seeds}
        # the trend over every trained model: rank correlation of beta with its std (and one-sided p)
        by_beta = [(float(b), v) for b, runs in per_seed.items() for v in runs.values() if np.isfinite(v)]
        trend = spearmanr(*zip(*by_beta), alternative="less") if len(by_beta) > 2 else None
        # the paper's reason for the trend: precise control needs a disentangled code
        code_std = [(r["x_code_linear_r2"], r["std_mean"]) for runs in per_beta.values() for r in runs.values()
                    if np.isfinite(r["std_mean"])]
        by_code = spearmanr(*zip(*code_std), alternative="less") if len(code_std) > 2 else None
        metrics = {"std_per_beta": std, "std_per_beta_per_seed": per_seed, "per_beta": per_beta,
                   "s_values": s_values.tolist(),
                   "std_falls_with_beta": bool(all(a > b for a, b in zip(order, order[1:]))),
                   "std_falls_with_beta_per_seed": falls,
                   "trend": {"spearman_beta_std": float(trend.statistic) if trend else float("nan"),
                             "p_one_sided": float(trend.pvalue) if trend else float("nan"), "models": len(by_beta),
                             "spearman_code_linearity_std": float(by_code.statistic) if by_code else float("nan"),
                             "p_code_one_sided": float(by_code.pvalue) if by_code else float("nan")},
                   "x_half_range_in_data": X_HALF_RANGE, "measure": "pixels:x (exact bright-pixel barycentre)",
                   "protocol": {"pretrained": pretrained, "full": full, "seeds": list(seeds),
                                "train_steps": train_steps, "batch_size": batch_size, "n_train": n_train,
                                "n_trajectories": n_trajectories, "T": T, "n_steps": n_steps,
                                "steps_per_target": steps_per_target, "n_eval": n_eval, "seed": seed}}
        metrics = run.write_metrics(metrics)
        plot_factor_sweeps(tmp / "fig5.png", sweeps, ylabel="measured x (fraction of width)", ncols=len(betas))
        save_png(grid_image(strips, col_labels=[f"s={s:+g}" for s in s_values[::2]],
                            row_labels=[f"b{b:g} s{k}" for k in seeds for b in betas for _ in range(3)], scale=1),
                 tmp / "strips.png")
        if curves:
            line_plot(tmp / "training.png", curves, xlabel="step", ylabel="reconstruction BCE (sum over pixels)",
                      title="beta-VAE training", logy=True, markers=False)
        _report(tmp, metrics, bool(curves))
    subs.clear()
    return {"out": out, "metrics": metrics}


@torch.no_grad()
def _strip(G, d, s_values, seed: int, n_rows: int = 3):
    z = G.sample_z(n_rows, generator=seeds.generator(seed, seeds.FIGURE_ROWS))
    u = d.tensors["u"]
    return [G.synthesize(move_to(z[i:i + 1].expand(len(s_values), -1), u, torch.tensor(s_values)))
            for i in range(n_rows)]


def trend_sentence(t: dict) -> str:
    """The rank correlations of the trend over models, or why there are none (fewer than 3 models)."""
    if t["models"] < 3:
        return (f"Spearman correlations over models need 3 or more models; this run has {t['models']} "
                "(add --betas or --train-seeds).")
    return (f"Over all {t['models']} models, Spearman(beta, std) = {t['spearman_beta_std']:.2f} (one-sided p = "
            f"{t['p_one_sided']:.3g}); Spearman(x code linearity, std) = {t['spearman_code_linearity_std']:.2f} "
            f"(one-sided p = {t['p_code_one_sided']:.3g}): does the std follow how disentangled x is in each "
            "model's code?")


def _report(folder: Path, m: dict, trained: bool) -> None:
    rows = [[f"{key} (seed {k})", v["std_mean"], v["x_code_linear_r2"], v["spearman_per_sample"], v["spearman"],
             v["monotone_fraction"], v["empty_fraction"], v["y_range_along_u"], v["fit_r2"],
             v["erf_fit_of_mean_x"]["a"], v["erf_fit_of_mean_x"]["r2"]]
            for key, runs in m["per_beta"].items() for k, v in runs.items()]
    rows += [[f"{key} (mean)", v] + [""] * 9 for key, v in m["std_per_beta"].items()]
    sections = [
        ("Claim", html.text(
            "Plumerault et al. Fig. 5: moving along the horizontal-position direction found in a beta-VAE "
            "controls the position of the sprite, more precisely (smaller std of the measured x per s) as "
            f"beta grows. Here, with the std averaged over training seeds {m['protocol']['seeds']}: falls with "
            f"beta: {m['std_falls_with_beta']}; per seed: {m['std_falls_with_beta_per_seed']}. "
            + trend_sentence(m["trend"]))),
        ("Fig. 5", html.text("Per beta (columns) and training seed (rows): the measured x (exact barycentre "
                             "of the white pixels) of held-out samples moved to s along u (blue), its std "
                             "per s (red) and the encoding model g(s) anchored at s = 0 (dashed).")
         + html.image("fig5.png", "fig5")
         + html.table(["beta", "mean std of x", "x code linearity (R^2 from the encoder)",
                       "Spearman(s, x) per sample", "pooled", "monotone samples",
                       "empty images", "y range along u", "fit R^2",
                       f"erf half-range (data: {m['x_half_range_in_data']:.3f})", "erf fit R^2"], rows)),
        ("Strips", html.text("Three rows per beta and seed: one sample moved to s = -3 .. 3.")
         + html.image("strips.png", "strips")),
    ]
    if trained:
        sections.append(("Training", html.image("training.png", "training")))
    html.write_report(folder / "report.html", "beta-VAE on dSprites: control vs disentanglement", sections)
