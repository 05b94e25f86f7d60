"""`steerlab reproduce NAME`: run one paper experiment end to end (see `steerlab.reproduce`)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from steerlab.core import checks
from steerlab.core.checkpoint import DEFAULT_EVERY
from steerlab.core.runs import fresh_folder
from steerlab.reproduce import get_reproduction
from steerlab.reproduce.options import GENERIC, parse_options


def reproduce(experiment: str, out: str | Path | None = None, *, options: Sequence[str] | None = None,
              betas: str | Sequence[float] = (1, 5, 10, 20), seeds: Sequence[int] = (0, 1, 2),
              pretrained: bool = False, full: bool = False, train_steps: int = 2000, n_trajectories: int = 32,
              steps_per_target: int = 50, n_eval: int = 64, seed: int = 0, overwrite: bool = False,
              device: str = "cpu", resume: bool = False, checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Run ``experiment`` into ``out`` (default ``runs/EXPERIMENT``).

    The generic experiments (steerable-training, nonlinear-walks, bias) take ``options`` as
    ``["KEY=VALUE", ...]`` (their own keyword arguments); beta-vae takes the named arguments.
    Every finished sub-run (a trained model, a learned walk, an evaluation) is kept in a
    checkpoint beside ``out``; ``resume=True`` continues a run that died from there with the same
    result (`steerlab.reproduce._resume`).

    Returns:
        the experiment's ``{"out", "metrics", ...}`` with a one-paragraph ``"summary"`` added.
    """
    fn = get_reproduction(experiment)
    checks.check_device(device)
    checks.check_int("checkpoint_every", checkpoint_every, 1, checks.MAX_STEPS)
    out = Path(out or fresh_folder("reproduce", experiment, resume=resume))
    keep = dict(resume=resume, checkpoint_every=checkpoint_every)
    if experiment in GENERIC:  # configured by --set KEY=VALUE (the function's own options)
        run = fn(out, overwrite=overwrite, device=device, seed=seed, **parse_options(fn, list(options or [])), **keep)
        run.setdefault("summary", f"metrics: {Path(run['out']) / 'metrics.json'}")
        return run
    if options:
        raise ValueError(f"--set is for {', '.join(sorted(GENERIC))}; {experiment} takes its named options")
    if isinstance(betas, str):
        try:
            betas = [float(b) for b in betas.split(",")]
        except ValueError:
            raise ValueError(f"--betas must be numbers, e.g. 1,5,10,20 (got {betas!r})") from None
    seeds = checks.check_seeds("seeds", seeds, 64)
    checks.check_int("train_steps", train_steps, 1, checks.MAX_STEPS)
    checks.check_int("n_trajectories", n_trajectories, 1, checks.MAX_COUNT)
    checks.check_int("steps_per_target", steps_per_target, 1, checks.MAX_STEPS)
    checks.check_int("n_eval", n_eval, 1, checks.MAX_COUNT)
    if not betas or not all(math.isfinite(b) and b > 0 for b in betas):
        raise ValueError(f"--betas must be finite numbers > 0, e.g. 1,5,10,20 (got {betas!r})")
    run = fn(out, betas=list(betas), seeds=seeds, pretrained=pretrained, full=full, train_steps=train_steps,
             n_trajectories=n_trajectories, steps_per_target=steps_per_target, n_eval=n_eval, seed=seed,
             overwrite=overwrite, device=device, **keep)
    m = run["metrics"]
    lines = [f"std of the controlled position per beta (mean over seeds {','.join(map(str, seeds))}): "
             + ", ".join(f"beta {k}: {v:.4f}" for k, v in m["std_per_beta"].items())]
    for k in seeds:
        lines.append(f"  seed {k}: " + ", ".join(f"beta {b}: {v[str(k)]:.4f}"
                                                for b, v in m["std_per_beta_per_seed"].items()))
    t = m["trend"]
    if t["models"] < 3:  # a rank correlation of 2 points is undefined: say so instead of printing nan
        lines.append(f"  Spearman over models: needs 3 or more models, this run has {t['models']} "
                     "(add --betas or --train-seeds)")
    else:
        lines.append(f"  over {t['models']} models: Spearman(beta, std) {t['spearman_beta_std']:.3f} "
                     f"(one-sided p {t['p_one_sided']:.3g}); Spearman(x code linearity, std) "
                     f"{t['spearman_code_linearity_std']:.3f} (p {t['p_code_one_sided']:.3g})")
    run["summary"] = "\n".join(lines)
    return run
