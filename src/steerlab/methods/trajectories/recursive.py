"""Recursive estimation of latent trajectories of an image transformation (Eq. 5, Algorithm 1).

For each z0 the target T_T(G(z0)) is reached through N smaller transformations,
dt_n = n T / N, each inversion starting from the previous solution:

    z_n = argmin_{||z|| <= sqrt(d)}  L(G(z; init z_{n-1}), T_{dt_n}(G(z0)))        (Eq. 5)

on both sides ([0, T] and [-T, 0]). Undefined pixels of the transformed image (the border a
shift exposes) are masked out of L. The pairs (z0, z_dt, dt) are the dataset the encoding
model is fitted on; the worst tenth by reconstruction error is discarded (Sec. 2.1.2: targets
the generator cannot produce, e.g. an object pushed out of the training distribution).

``dt`` is in the edit's walk units alpha_g (= the user units for shifts, fraction of the
width; log of the factor for zoom). ``compare_with_naive`` measures App. F / Fig. 10: steps to
bring the error on the final target down, recursive vs one direct inversion from z0 (Eq. 4);
``compare_trajectory_with_naive`` the steps to bring every target of a trajectory down.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steerlab.core.io import FileFormatError, read_tensor_file, write_tensor_file
from steerlab.edits import Edit, get_edit
from steerlab.methods.trajectories.invert import inversion_loss, invert, project_to_ball
from steerlab.models.base import Generator

__all__ = ["Trajectories", "recursive_trajectories", "default_T", "compare_with_naive", "compare_trajectory_with_naive",
           "save_trajectories", "load_trajectories"]

FORMAT = "steerlab-trajectories/1"


@dataclass
class Trajectories:
    """The dataset of Algorithm 1: rows (z0, z, dt) with their reconstruction error.

    Attributes:
        z0, z: (M, d) start latents and solutions of T_dt(G(z0)).
        dt: (M,) transformation amount in the edit's alpha_g units.
        error: (M,) final inversion loss of each row.
        kept: (M,) bool, False for the discarded worst fraction.
        classes: (M,) labels for a conditional model, else None.
        meta: JSON-able record (model, fingerprint, edit, T, schedule, loss).
    """

    z0: Tensor
    z: Tensor
    dt: Tensor
    error: Tensor
    kept: Tensor
    classes: Tensor | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.dt.shape[0]

    def selected(self) -> "Trajectories":
        """Only the kept rows."""
        k = self.kept
        return Trajectories(self.z0[k], self.z[k], self.dt[k], self.error[k], self.kept[k],
                            None if self.classes is None else self.classes[k], dict(self.meta))


def default_T(edit: Edit) -> float:
    """Half the edit's reach in alpha_g on its shorter side (shift: 0.25 of the width; zoom: x2)."""
    lo, hi = edit.range_g
    ident = float(edit.to_g(torch.tensor(edit.identity, dtype=torch.float64)))
    return 0.5 * min(hi - ident, ident - lo)


def _targets(edit: Edit, images: Tensor, dt: Tensor) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        alpha_t = edit.to_t(dt.double()).float().clamp(*edit.alpha_range)
        return edit(images, alpha_t)


def recursive_trajectories(G: Generator, edit: str | Edit, *, n_trajectories: int = 64,
                           T: float | None = None, n_steps: int = 10, steps_per_target: int = 100,
                           lr: float = 0.1, loss: str = "blurred", sigma: float = 3.0,
                           discard: float = 0.1, seed: int = 0, z0: Tensor | None = None,
                           classes: Tensor | None = None, progress: bool = True, checkpoint=None) -> Trajectories:
    """Algorithm 1 with the recursive solver of Eq. 5, batched over every trajectory at once.

    Args:
        G: any steerlab generator (frozen).
        edit: the image transformation T_dt (an edit name or `Edit`), e.g. ``"shift_x"``.
        n_trajectories: S, the number of z0 (default drawn N(0, I) from ``seed``).
        T: the largest dt, in alpha_g units (default `default_T`); both signs are walked.
        n_steps: N, sub-problems per side (the paper uses 10).
        steps_per_target: Adam steps for each sub-problem.
        lr, loss, sigma: inversion settings (see `invert`).
        discard: fraction of rows with the worst error to drop (the paper: 0.1).
        z0, classes: explicit start latents (S, d) and labels instead of random ones.
        checkpoint: a `steerlab.core.checkpoint.Checkpoint`: the solved sub-problems are saved
            every ``checkpoint.every`` of them and a rerun continues after the last saved one.

    Returns:
        `Trajectories` with 2 * S * N rows (``kept`` marks the retained ones).
    """
    edit = get_edit(edit) if isinstance(edit, str) else edit
    T = default_T(edit) if T is None else float(T)
    lo, hi = edit.range_g
    if not (math.isfinite(T) and T > 0):
        raise ValueError(f"T must be a positive number, got {T}")
    ident = float(edit.to_g(torch.tensor(edit.identity, dtype=torch.float64)))
    if ident - T < lo - 1e-9 or ident + T > hi + 1e-9:
        raise ValueError(f"T={T:g} reaches outside edit '{edit.name}' range (alpha_g in [{lo:g}, {hi:g}])")
    if n_steps < 1 or steps_per_target < 1 or not 0 <= discard < 1:
        raise ValueError(f"need n_steps >= 1, steps_per_target >= 1 and 0 <= discard < 1 "
                         f"(got {n_steps}, {steps_per_target}, {discard})")
    g = torch.Generator().manual_seed(seed)
    if z0 is None:
        z0 = G.sample_z(n_trajectories, generator=g)
        classes = G.sample_classes(n_trajectories, generator=g) if classes is None else classes
    s = z0.shape[0]
    classes = G.check_classes(classes, s)
    z0 = project_to_ball(z0, math.sqrt(G.z_dim))  # the start must satisfy the constraint too
    with torch.no_grad():
        images0 = G.synthesize(z0, classes=classes)
    # Both sides in one batch: rows [0, S) walk towards +T, rows [S, 2S) towards -T.
    z0_2, im0_2 = torch.cat([z0, z0]), torch.cat([images0, images0])
    cls_2 = None if classes is None else torch.cat([classes, classes])
    sign = torch.cat([torch.ones(s), -torch.ones(s)]).to(z0)
    current, rows = z0_2.clone(), []
    saved = None if checkpoint is None else checkpoint.load()
    if saved is not None:  # the sub-problems solved before the run was interrupted
        rows = [tuple(saved[0][f"{key}.{i}"].to(z0) for key in ("z", "dt", "loss")) for i in range(saved[1]["done"])]
        current = rows[-1][0]
    for n in tqdm(range(len(rows) + 1, n_steps + 1), desc=f"trajectories {edit.name}", disable=not progress,
                  leave=False):
        dt = sign * (T * n / n_steps)
        target, mask = _targets(edit, im0_2, ident + dt)
        inv = invert(G, target, mask=mask, loss=loss, sigma=sigma, steps=steps_per_target, lr=lr,
                     z_init=current, classes=cls_2, progress=False)
        current = inv.z
        rows.append((current, dt, inv.loss))
        if checkpoint is not None and checkpoint.due(n) and n < n_steps:
            checkpoint.save({f"{key}.{i}": v for i, row in enumerate(rows) for key, v in zip(("z", "dt", "loss"), row)},
                            {"done": n})
    z = torch.cat([r[0] for r in rows])
    dt = torch.cat([r[1] for r in rows])
    error = torch.cat([r[2] for r in rows])
    z0_all = z0_2.repeat(n_steps, 1)
    cls_all = None if cls_2 is None else cls_2.repeat(n_steps)
    keep = error <= torch.quantile(error, 1 - discard) if discard > 0 else torch.ones_like(error, dtype=torch.bool)
    meta = {"model": G.name, "fingerprint": G.fingerprint, "edit": edit.name, "T": T, "n_steps": n_steps,
            "n_trajectories": s, "steps_per_target": steps_per_target, "lr": lr, "loss": loss,
            "sigma": sigma, "discard": discard, "seed": seed, "dt_units": "alpha_g"}
    return Trajectories(z0_all.cpu(), z.cpu(), dt.cpu(), error.cpu(), keep.cpu(),
                        None if cls_all is None else cls_all.cpu(), meta)


def compare_with_naive(G: Generator, edit: str | Edit, z0: Tensor, *, T: float | None = None,
                       n_steps: int = 10, steps_per_target: int = 50, lr: float = 0.1,
                       loss: str = "blurred", sigma: float = 3.0, classes: Tensor | None = None,
                       levels: tuple[float, ...] = (0.5, 0.25, 0.1), snapshot_every: int = 0) -> dict:
    """Steps needed to reach an error on the final target T_T(G(z0)), recursive vs naive.

    Both methods start at z0 and get the same budget, ``n_steps * steps_per_target`` Adam
    steps: the recursive one solves the N sub-problems of Eq. 5 in turn, the naive one
    optimises Eq. 4 on the final target directly. At every step the loss on the *final*
    target is recorded; an error level r means r times that loss at z0 (identical for both).

    With ``snapshot_every`` > 0, the images at every that many steps are kept (Fig. 10) in
    ``"recursive_images"`` / ``"naive_images"``: tensors (K, S, C, H, W), plus ``"final_target"``.

    Returns:
        ``{"levels": [...], "recursive_steps": [[...] per level], "naive_steps": ...,
        "recursive_curve": (steps+1, S) list, "naive_curve": ..., "budget": int}``; a
        target that never reaches a level counts ``budget + 1`` steps (and is reported in
        ``"recursive_reached"`` / ``"naive_reached"`` as the fraction that did).
    """
    edit = get_edit(edit) if isinstance(edit, str) else edit
    T = default_T(edit) if T is None else float(T)
    ident = float(edit.to_g(torch.tensor(edit.identity, dtype=torch.float64)))
    loss_fn = inversion_loss(loss, sigma)
    z0 = project_to_ball(z0, math.sqrt(G.z_dim))
    with torch.no_grad():
        images0 = G.synthesize(z0, classes=classes)
    final, fmask = _targets(edit, images0, torch.full((z0.shape[0],), ident + T, device=z0.device))
    budget = n_steps * steps_per_target

    snaps: dict[str, list] = {"recursive": [], "naive": []}

    def tracker(curve: list, which: str):
        def hook(i, z, images):
            if snapshot_every and len(curve) % snapshot_every == 0:
                snaps[which].append(images.cpu())
            curve.append(loss_fn(images, final, fmask))
        return hook

    rec_curve: list = []
    current = z0.clone()
    for n in range(1, n_steps + 1):
        target, mask = _targets(edit, images0, torch.full((z0.shape[0],), ident + T * n / n_steps, device=z0.device))
        inv = invert(G, target, mask=mask, loss=loss, sigma=sigma, steps=steps_per_target, lr=lr,
                     z_init=current, classes=classes, on_step=tracker(rec_curve, "recursive"), progress=False)
        current = inv.z
    with torch.no_grad():
        last = G.synthesize(current, classes=classes)
        rec_curve.append(loss_fn(last, final, fmask))
    if snapshot_every:
        snaps["recursive"].append(last.cpu())
    naive_curve: list = []
    inv = invert(G, final, mask=fmask, loss=loss, sigma=sigma, steps=budget, lr=lr, z_init=z0.clone(),
                 classes=classes, on_step=tracker(naive_curve, "naive"), progress=False)
    naive_curve.append(inv.loss)
    if snapshot_every:
        with torch.no_grad():
            snaps["naive"].append(G.synthesize(inv.z, classes=classes).cpu())
    rc, nc = torch.stack(rec_curve), torch.stack(naive_curve)  # (budget + 1, S)
    start = rc[0]
    out = {"levels": list(levels), "budget": budget, "T": T, "edit": edit.name,
           "recursive_curve": rc.tolist(), "naive_curve": nc.tolist()}
    for name, c in (("recursive", rc), ("naive", nc)):
        steps, reached = [], []
        for r in levels:
            hit = c <= r * start  # (budget + 1, S)
            first = torch.where(hit.any(0), hit.float().argmax(0), torch.full_like(start, budget + 1).long())
            steps.append(first.tolist())
            reached.append(hit.any(0).float().mean().item())
        out[f"{name}_steps"], out[f"{name}_reached"] = steps, reached
    out["recursive_final"], out["naive_final"] = rc[-1].tolist(), nc[-1].tolist()
    if snapshot_every:
        out["recursive_images"] = torch.stack(snaps["recursive"])
        out["naive_images"] = torch.stack(snaps["naive"])
        out["final_target"] = (final * fmask + 0.5 * (1 - fmask)).cpu()
    return out


def compare_trajectory_with_naive(G: Generator, edit: str | Edit, z0: Tensor, *, T: float | None = None,
                                  n_steps: int = 10, steps_per_target: int = 50, lr: float = 0.1,
                                  loss: str = "blurred", sigma: float = 3.0, classes: Tensor | None = None,
                                  levels: tuple[float, ...] = (0.5, 0.25, 0.1)) -> dict:
    """Steps to bring every point of a trajectory to an error, recursive vs naive (Algorithm 1's cost).

    Algorithm 1 needs a latent for each of the N targets T_{nT/N}(G(z0)). Both methods get
    ``steps_per_target`` Adam steps on each target; the recursive one starts target n from its
    solution of target n - 1 (Eq. 5), the naive one starts every target from z0 (Eq. 4, all N
    solved in one batch). Error level r on target n is r times the loss of G(z0) on that target,
    the same for both. A target not reached counts ``steps_per_target + 1`` steps.

    Returns:
        ``{"levels", "steps_per_target", "n_steps", "T",
        "recursive_steps" / "naive_steps": per level, (N, S) steps per target and trajectory,
        "recursive_total" / "naive_total": per level, (S,) steps summed over the trajectory,
        "recursive_reached" / "naive_reached": per level, fraction of (target, trajectory) reached,
        "recursive_final" / "naive_final": (N,) mean final loss per target}``.
    """
    edit = get_edit(edit) if isinstance(edit, str) else edit
    T = default_T(edit) if T is None else float(T)
    ident = float(edit.to_g(torch.tensor(edit.identity, dtype=torch.float64)))
    s = z0.shape[0]
    z0 = project_to_ball(z0, math.sqrt(G.z_dim))
    with torch.no_grad():
        images0 = G.synthesize(z0, classes=classes)
    targets = [_targets(edit, images0, torch.full((s,), ident + T * n / n_steps, device=z0.device))
               for n in range(1, n_steps + 1)]
    rec_curves, current = [], z0.clone()
    for target, mask in targets:
        inv = invert(G, target, mask=mask, loss=loss, sigma=sigma, steps=steps_per_target, lr=lr,
                     z_init=current, classes=classes, progress=False)
        current = inv.z
        rec_curves.append(inv.curve)
    rep = lambda x: None if x is None else x.repeat(n_steps, *([1] * (x.dim() - 1)))  # noqa: E731
    inv = invert(G, torch.cat([t for t, _ in targets]), mask=torch.cat([m for _, m in targets]), loss=loss,
                 sigma=sigma, steps=steps_per_target, lr=lr, z_init=rep(z0), classes=rep(classes), progress=False)
    curves = {"recursive": torch.stack(rec_curves, 1),  # (K + 1, N, S)
              "naive": inv.curve.reshape(steps_per_target + 1, n_steps, s)}
    start = curves["naive"][0]  # loss of G(z0) on each target, (N, S)
    out = {"levels": list(levels), "steps_per_target": steps_per_target, "n_steps": n_steps, "T": T,
           "edit": edit.name}
    for name, c in curves.items():
        steps, totals, reached = [], [], []
        for r in levels:
            hit = c <= r * start
            first = torch.where(hit.any(0), hit.float().argmax(0),
                                torch.full_like(start, steps_per_target + 1).long())
            steps.append(first.tolist())
            totals.append(first.sum(0).tolist())
            reached.append(hit.any(0).float().mean().item())
        out[f"{name}_steps"], out[f"{name}_total"], out[f"{name}_reached"] = steps, totals, reached
        out[f"{name}_final"] = c[-1].mean(1).tolist()
    return out


# --------------------------------------------------------------------------- files
def save_trajectories(data: Trajectories, path: str | Path) -> Path:
    """Write ``<stem>.safetensors`` + a readable ``<stem>.json`` (`steerlab.core.io.write_tensor_file`).

    Tensors: z0, z (M, d) float32, dt, error (M,) float32, kept (M,) uint8, classes (M,) int64 for
    a conditional model. Header: ``data.meta`` with ``rows`` (M) and ``kept`` (how many are kept).
    Returns the ``.safetensors`` path.
    """
    tensors = {"z0": data.z0, "z": data.z, "dt": data.dt, "error": data.error, "kept": data.kept.to(torch.uint8)}
    if data.classes is not None:
        tensors["classes"] = data.classes
    head = {"format": FORMAT, **data.meta, "rows": len(data), "kept": int(data.kept.sum())}
    return write_tensor_file(path, tensors, head)


def load_trajectories(path: str | Path) -> Trajectories:
    """Read a file written by `save_trajectories` (any version since the first); refuses anything
    else, inconsistent shapes and NaN / inf with one `FileFormatError` line."""
    t, head = read_tensor_file(path, FORMAT, what="steerlab trajectories",
                               tensors=("z0", "z", "dt", "error", "kept"))
    m = t["dt"].shape[0]
    if t["z0"].shape != t["z"].shape or t["z0"].shape[0] != m or t["error"].shape[0] != m:
        raise FileFormatError(f"{path}: trajectory tensors have inconsistent shapes (corrupted file)")
    meta = {k: v for k, v in head.items() if k not in ("format", "rows", "kept", "tensor_shapes")}
    return Trajectories(t["z0"], t["z"], t["dt"], t["error"], t["kept"].bool(), t.get("classes"), meta)
