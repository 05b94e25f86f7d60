"""`steerlab reproduce nonlinear-walks`: Jahanian et al. Sec. 4.3 (Fig. 7), App. A.3-A.4 and B.4.2,
on one model. Table 1's nonlinear row is `steerlab reproduce bias --set walk_kind=nonlinear`
(`reproduce.bias`: the same dataset-sigma vs delta-mu protocol with Eq. 2's walks).

For each edit, on the same frozen generator: the linear walk (Eq. 1), the nonlinear Euler-step
walk (Eq. 2; epsilon so that 5 steps reach the end of the range) and A.3's G(z + alpha NN(z)).
Per alpha on held-out samples: masked L2 to the target (how well the edit is followed) and FID
of the walked images (how realistic they stay): Fig. 7's trade-off, in numbers. A.3's check:
the spread of NN(z) directions over z before and after training (1 = the same direction for
every z, i.e. a linear walk).

By default the model is the digits DCGAN (trained here, the vanilla GAN of `steerable-training`
with the same settings), FID is against the real digits in digit-CNN features and identity is
the digit CNN's reading of the conditioning class. ``model=NAME`` uses a zoo model or generator
file instead, with FID in ``features`` (default: the model card's, or "stlpips-vgg") against its
dataset when the model card names one (e.g. shapes), else against fresh G(z) samples.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from steerlab.core import seeds
from steerlab.core.checkpoint import DEFAULT_EVERY
from steerlab.core.runs import Run
from steerlab.data.registry import DATASETS, get_dataset
from steerlab.edits import get_edit
from steerlab.evaluation.steerability import held_out, target_l2
from steerlab.methods.walks import learn_linear_walk, learn_nn_walk, learn_nonlinear_walk
from steerlab.metrics.fid import fid_kid
from steerlab.models import load_model
from steerlab.report import html
from steerlab.reproduce import _digits as dg
from steerlab.reproduce._resume import SubRuns, direction_from, direction_tensors, load_module, module_tensors
from steerlab.training import digit_gan, train_gan

KINDS = ("linear", "nonlinear", "nn-linear")
LABELS = {"linear": "linear G(z + alpha w)", "nonlinear": "nonlinear G(f^n(z))",
          "nn-linear": "A.3: G(z + alpha NN(z))"}
COLOURS = {"linear": "tab:blue", "nonlinear": "tab:red", "nn-linear": "tab:purple"}


def reproduce_nonlinear_walks(out="runs/nonlinear-walks", *, model: str | None = None,
                              edits=("zoom", "shift_x", "rotate2d"), gan_steps: int = 3000,
                              batch_size: int = 64, width: int = 16, z_dim: int = 64,
                              walk_steps: int = 600, nonlinear_steps: int = 600, nonlinear_lr: float = 0.001,
                              n_steps: int = 5, hidden: int = 256, n_eval: int = 256,
                              features: str | None = None, resolution: int = 32, procedural: int = 0,
                              mnist: str | None = None, seed: int = 0, overwrite: bool = False,
                              device: str = "cpu", progress: bool = True, resume: bool = False,
                              checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Linear vs nonlinear vs A.3 walks on one model; writes one run folder.

    Args:
        model: None trains the digits DCGAN (``gan_steps``, ``batch_size``, ``width``, ``z_dim``,
            data from ``resolution``/``procedural``/``mnist``); else a zoo name or generator file.
        edits: registered edits (scalar; colour works for the walks but is not plotted here).
        walk_steps: Adam steps of the linear walk (lr 0.01, batch 32).
        nonlinear_steps, nonlinear_lr, n_steps, hidden: the nonlinear and A.3 walks (batch 32).
        n_eval: held-out samples for L2, FID and identity.
        features: FID feature network for a non-digits ``model``.
        resume, checkpoint_every: keep each finished sub-run (the GAN, each walk) in a checkpoint
            beside ``out`` and, with ``resume``, continue a run that died from there (`_resume.SubRuns`;
            an unfinished walk continues from its last save, every ``checkpoint_every`` steps).

    Returns:
        ``{"out": Path, "metrics": dict}``.
    """
    edits = tuple(edits)
    for e in edits:
        if get_edit(e).alpha_dim != 1:
            raise ValueError(f"nonlinear-walks plots scalar edits; '{e}' has {get_edit(e).alpha_dim} components")
    t_start = time.time()
    with Run("reproduce nonlinear-walks", out, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        subs = SubRuns(out, dict(model=model, edits=list(edits), gan_steps=gan_steps, batch_size=batch_size, width=width,
                                 z_dim=z_dim, walk_steps=walk_steps, nonlinear_steps=nonlinear_steps,
                                 nonlinear_lr=nonlinear_lr, n_steps=n_steps, hidden=hidden, n_eval=n_eval,
                                 features=features, resolution=resolution, procedural=procedural, mnist=mnist,
                                 seed=seed), resume=resume, every=checkpoint_every)
        if model is None:
            images, labels, data_text = dg.load_data(resolution, procedural, mnist, seed)
            G, D = digit_gan(resolution, images.shape[1], 10, z_dim=z_dim, width=width, seed=seed,
                             name="digits-vanilla")
            saved = subs.done("gan")
            if saved is None:
                gan = train_gan(G, D, images, labels, config=dg.gan_config(gan_steps, batch_size, seed),
                                device=device, progress=progress)
                subs.finish("gan", module_tensors(G, "G"), {"seconds": gan["seconds"]})
            else:
                gan = saved[1]
                load_module(G.to(device), saved[0], "G")
            dg.save_model(G, tmp, dg.digits_card("digits DCGAN, vanilla"))
            real = dg.reference_subset(images, n_eval, seed)
            feats, ref_text = dg.FEATURES, f"{real.shape[0]} of the real digits ({data_text})"
            model_text = (f"class-conditional digits DCGAN trained here ({gan_steps} steps, batch {batch_size}, "
                          f"{gan['seconds']:.0f} s)")
        else:
            G = load_model(model, device=device)
            card = getattr(G, "card", None) or {}
            feats = features or card.get("fid_features", "stlpips-vgg")
            model_text = G.describe()
            if card.get("dataset") in DATASETS:  # FID against real data wherever the model has a dataset
                real, _, _ = get_dataset(card["dataset"], n_eval, card.get("resolution_data", G.resolution),
                                         seed + seeds.EVAL_HELD_OUT)
                ref_text = f"{n_eval} images of the dataset '{card['dataset']}'"
            else:
                real = dg.sample_images(G, n_eval, seed + seeds.HELD_OUT_FRESH)  # fresh draws, not the held-out z
                ref_text = f"{n_eval} fresh samples G(z) of the model itself (no dataset known)"
        kw = dict(batch_size=32, seed=seed, progress=progress)
        dirs, timing = {}, {}
        for edit in edits:
            for kind in KINDS:
                t0, name = time.time(), f"{edit}-{kind}"
                saved = subs.done(name)
                if saved is not None:
                    d = direction_from(saved[0], saved[1]["direction"], "d")
                    timing[f"{edit}/{kind}"] = saved[1]["seconds"]
                else:
                    kw["checkpoint"] = subs.sub(name)
                    if kind == "linear":
                        d = learn_linear_walk(G, edit, steps=walk_steps, lr=0.01, **kw)
                    elif kind == "nonlinear":
                        d = learn_nonlinear_walk(G, edit, steps=nonlinear_steps, lr=nonlinear_lr, n_steps=n_steps,
                                                 hidden=hidden, **kw)
                    else:
                        d = learn_nn_walk(G, edit, steps=nonlinear_steps, lr=nonlinear_lr, hidden=hidden, **kw)
                    timing[f"{edit}/{kind}"] = round(time.time() - t0, 1)
                    tensors, header = direction_tensors(d, "d")
                    subs.finish(name, tensors, {"direction": header, "seconds": timing[f"{edit}/{kind}"]})
                d.save(tmp / "directions" / f"{edit}-{kind}")
                dirs[edit, kind] = d
        floor = dg.fid_floor(images, n_eval, seed, device) if model is None else None
        metrics = {"model": G.name, "model_text": model_text, "reference": ref_text, "feature_network": feats,
                   "fid_real_floor": floor, **_measure(G, dirs, edits, real, feats, n_eval, seed, model is None)}
        metrics.update(config={"model": model, "edits": list(edits), "walk_steps": walk_steps,
                               "nonlinear_steps": nonlinear_steps, "nonlinear_lr": nonlinear_lr,
                               "n_steps": n_steps, "hidden": hidden, "n_eval": n_eval, "seed": seed,
                               "gan_steps": gan_steps if model is None else None, "device": str(device)},
                       seconds=timing, total_seconds=round(time.time() - t_start, 1))
        _figures(tmp, G, dirs, edits, metrics, seed)
        metrics = run.write_metrics(metrics)
        _report(tmp, edits, metrics)
    subs.clear()
    summary = "\n".join(
        f"{e}: mean L2 linear {metrics['l2_mean'][e]['linear']:.4f} / nonlinear {metrics['l2_mean'][e]['nonlinear']:.4f}"
        f"; mean FID linear {metrics['fid_mean'][e]['linear']:.1f} / nonlinear {metrics['fid_mean'][e]['nonlinear']:.1f}"
        f"; A.3 NN(z) mean cos to mean direction {metrics['spread'][e]['nn-linear']['init']['mean_cos'][0]:.3f} -> "
        f"{metrics['spread'][e]['nn-linear']['trained']['mean_cos'][0]:.3f}" for e in edits)
    return {"out": Path(out), "metrics": metrics, "summary": summary}


def _measure(G, dirs: dict, edits, real, feats: str, n_eval: int, seed: int, digits: bool) -> dict:
    """Per edit and walk kind: L2, FID (and for digits identity and the ink attribute) per alpha."""
    metrics = {"curves": {}, "spread": {}, "l2_mean": {}, "fid_mean": {}, "epsilon": {}}
    for edit in edits:
        metrics["curves"][edit], metrics["spread"][edit] = {}, {}
        metrics["l2_mean"][edit], metrics["fid_mean"][edit] = {}, {}
        for kind in KINDS:
            d = dirs[edit, kind]
            c = target_l2(G, d, n=n_eval, n_alphas=9, seed=seed)
            if digits:
                p = dg.per_alpha(G, d, n=n_eval, seed=seed, real=real)
            else:
                p = _fid_only(G, d, real, feats, n_eval, seed)
            metrics["curves"][edit][kind] = {"alphas": c["alphas"], "walk_l2": c["walk_l2"],
                                             "baseline_l2": c["baseline_l2"], "fid": p["fid"],
                                             "identity_walk": p.get("identity_walk", []),
                                             "identity_target": p.get("identity_target", []),
                                             "attribute_walk": p.get("attribute_walk", []),
                                             "attribute_target": p.get("attribute_target", []),
                                             "l2_per_sample": c["per_sample"],
                                             "attribute_per_sample": p.get("attribute_per_sample", [])}
            metrics["l2_mean"][edit][kind] = c["walk_l2_mean"]
            metrics["fid_mean"][edit][kind] = sum(p["fid"]) / len(p["fid"])
            if kind != "linear":
                metrics["spread"][edit][kind] = {"init": d.metrics["spread_init"], "trained": d.metrics["spread"]}
        metrics["epsilon"][edit] = dirs[edit, "nonlinear"].config["epsilon"][0]
    return metrics


@torch.no_grad()
def _fid_only(G, d, real, feats, n, seed, batch_size=64) -> dict:
    z, classes = held_out(G, n, seed)
    out = {"fid": []}
    for a in get_edit(d.edit).grid(9):
        imgs = torch.cat([d.render(G, z[i:i + batch_size], a,
                                   classes=None if classes is None else classes[i:i + batch_size])
                          for i in range(0, n, batch_size)])
        out["fid"].append(fid_kid(real, imgs.cpu(), features=feats, device=G.device,
                                  kid_subset_size=min(100, n))["fid"])
    return out


def _figures(folder: Path, G, dirs: dict, edits, m: dict, seed: int) -> None:
    panels = []
    for what, ylabel in (("walk_l2", "masked L2 to target"), ("fid", f"FID ({m['feature_network']})")):
        for edit in edits:
            e = get_edit(edit)
            series = {LABELS[k]: (m["curves"][edit][k]["alphas"], m["curves"][edit][k][what],
                                  {"color": COLOURS[k]}) for k in KINDS}
            if what == "walk_l2":
                c = m["curves"][edit]["linear"]
                series["do nothing"] = (c["alphas"], c["baseline_l2"], {"color": "grey", "ls": ":", "marker": None})
            panels.append({"title": edit, "xlabel": f"alpha ({e.unit})", "ylabel": ylabel, "series": series,
                           "logx": e.mapping == "log"})
    if all(m["curves"][e]["linear"]["attribute_walk"] for e in edits):  # digits: the measured attribute
        for edit in edits:
            e, c = get_edit(edit), m["curves"][edit]
            series = {LABELS[k]: (c[k]["alphas"], c[k]["attribute_walk"], {"color": COLOURS[k]}) for k in KINDS}
            series["target"] = (c["linear"]["alphas"], c["linear"]["attribute_target"],
                                {"color": "grey", "ls": ":", "marker": None})
            panels.append({"title": edit, "xlabel": f"alpha ({e.unit})", "ylabel": dg.ATTRIBUTE[edit][1],
                           "series": series, "logx": e.mapping == "log"})
    dg.panel_plot(folder / "fig7_l2_fid_vs_alpha.png", panels, ncols=len(edits))
    z, classes = held_out(G, 3, seed + seeds.HELD_OUT_FIGURE_ROWS)
    for edit in edits:
        alphas = get_edit(edit).grid(9)
        rows, labels = [], []
        per_kind = {k: dg.strip_rows(G, dirs[edit, k], z, classes, alphas) for k in KINDS}
        for i in range(z.shape[0]):
            rows.append(per_kind["linear"][i][1])
            labels.append(f"target {i}")
            for k, short in (("linear", "linear"), ("nonlinear", "nonlin"), ("nn-linear", "A.3 NN")):
                rows.append(per_kind[k][i][0])
                labels.append(f"{short} {i}")
        dg.save_strip(rows, labels, alphas, folder / f"strip_{edit}.png")


def _report(folder: Path, edits, m: dict) -> None:
    cfg = m["config"]
    eps = ", ".join(f"{e}: {m['epsilon'][e]:.3f}" for e in edits)
    sections = [("Set-up", html.text(
        f"Model: {m['model_text']}. Walks: linear {cfg['walk_steps']} steps (lr 0.01); nonlinear and A.3 "
        f"{cfg['nonlinear_steps']} steps (lr {cfg['nonlinear_lr']}, two-layer MLPs of width {cfg['hidden']}); "
        f"nonlinear epsilon = max |alpha_g| / {cfg['n_steps']} "
        f"({eps} in alpha_g). FID of the walked images vs "
        f"{m['reference']} in {m['feature_network']} features, on {cfg['n_eval']} held-out samples; total "
        f"{m['total_seconds']} s. FID of real vs real digits at this sample size: {dg.fmt(m['fid_real_floor'])}.")),
        ("Fig. 7's trade-off: L2 to target (top), FID (middle) and the measured attribute (bottom) per alpha",
         html.image("fig7_l2_fid_vs_alpha.png", "L2 and FID vs alpha"))]
    ps_rows = [r for edit in edits for r in dg.per_sample_rows(edit, m["curves"][edit], LABELS)]
    sections.append(("Per sample", html.text(dg.PER_SAMPLE_TEXT) + html.table(dg.PER_SAMPLE_HEAD, ps_rows)))
    for edit in edits:
        c = m["curves"][edit]
        rows = []
        for j, a in enumerate(c["linear"]["alphas"]):
            row = [f"{a:.3g}"] + [c[k]["walk_l2"][j] for k in KINDS] + [c[k]["fid"][j] for k in KINDS]
            if c["linear"]["identity_walk"]:
                row += [c[k]["identity_walk"][j] for k in KINDS[:2]] + [c["linear"]["identity_target"][j]]
            if c["linear"]["attribute_walk"]:
                row += [c[k]["attribute_walk"][j] for k in KINDS] + [c["linear"]["attribute_target"][j]]
            rows.append(row)
        head = ["alpha"] + [f"L2 {k}" for k in KINDS] + [f"FID {k}" for k in KINDS]
        if c["linear"]["identity_walk"]:
            head += ["identity linear", "identity nonlinear", "identity target"]
        if c["linear"]["attribute_walk"]:
            head += [f"{dg.ATTRIBUTE[edit][0]} {k}" for k in KINDS] + [f"{dg.ATTRIBUTE[edit][0]} target"]
        sp = m["spread"][edit]
        spread_rows = [[k, name, s["init"]["mean_cos"][i], s["trained"]["mean_cos"][i], s["init"]["min_cos"][i],
                        s["trained"]["min_cos"][i], s["init"]["rel_spread"][i], s["trained"]["rel_spread"][i]]
                       for k, s in sp.items() for i, name in enumerate(s["trained"]["nets"])]
        sections.append((f"{edit}", html.image(f"strip_{edit}.png", f"{edit} strip")
                         + html.text("Rows per sample: target (grey = undefined), linear, nonlinear, A.3 walk.")
                         + html.table(head, rows)
                         + html.text("A.3 check - spread of NN(z) directions over held-out z (cos to the mean "
                                     "direction; rel. spread = E||NN(z) - mean|| / ||mean||), before -> after "
                                     "training. k0+ / k0- are the nonlinear walk's positive / negative step "
                                     "networks; k0 is A.3's G(z + alpha NN(z)).")
                         + html.table(["walk", "net", "mean cos init", "mean cos trained", "min cos init",
                                       "min cos trained", "rel spread init", "rel spread trained"], spread_rows)))
    html.write_report(folder / "report.html", "Linear vs nonlinear walks (Jahanian et al. Sec. 4.3, App. A.3-A.4)",
                      sections)
