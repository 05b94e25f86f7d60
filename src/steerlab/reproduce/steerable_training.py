"""`steerlab reproduce steerable-training`: Jahanian et al. Sec. 4.4, Fig. 9 and Figs. 28-30.

A class-conditional DCGAN on handwritten digits, three ways, per edit (zoom, shift_x, rotate2d):
(a) "argmin W": a vanilla GAN, then a linear walk on it (one vanilla GAN serves every edit);
(b) "argmin W + aug": the discriminator also sees edited real digits, then a linear walk;
(c) "argmin G,W": G and w trained jointly (Eq. 3-5), the discriminator seeing edited real digits.
On held-out (z, class): the masked L2 to the target per alpha (Fig. 9), its mean at the two ends
of the range (``l2_at_max_alpha``), whether the digit CNN still reads the conditioning class,
each GAN's FID (digit-CNN features) at alpha = 0, and strips of targets and walks.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from steerlab.core import seeds
from steerlab.core.checkpoint import DEFAULT_EVERY
from steerlab.core.runs import Run
from steerlab.edits import get_edit
from steerlab.evaluation.steerability import held_out, target_l2
from steerlab.report import html
from steerlab.reproduce import _digits as dg
from steerlab.reproduce._resume import SubRuns, direction_from, direction_tensors, load_module, module_tensors
from steerlab.training import MODES, digit_gan, train_steerable
from steerlab.training.steerable import MODE_LABELS

COLOURS = {"argmin_w": "tab:blue", "argmin_w_aug": "tab:orange", "argmin_gw": "tab:green"}
SHORT = {"argmin_w": "W", "argmin_w_aug": "W+aug", "argmin_gw": "G,W"}


def reproduce_steerable_training(out="runs/steerable-training", *, edits=("zoom", "shift_x", "rotate2d"),
                                 gan_steps: int = 3000, batch_size: int = 64, width: int = 16,
                                 z_dim: int = 64, aug_prob: float = 0.5, joint_weight: float = 1.0,
                                 joint_lr: float = 0.01, walk_steps: int = 600, walk_lr: float = 0.01,
                                 resolution: int = 32, procedural: int = 0, mnist: str | None = None,
                                 n_eval: int = 256, seed: int = 0, overwrite: bool = False,
                                 device: str = "cpu", progress: bool = True, resume: bool = False,
                                 checkpoint_every: int = DEFAULT_EVERY) -> dict:
    """Run the three Fig. 9 set-ups for each edit and write one run folder.

    Args:
        out: the run folder (written atomically; an existing one is kept unless ``overwrite``).
        edits: any registered scalar edits; the paper's are zoom, shift_x and rotate2d.
        gan_steps, batch_size: GAN schedule per training (Adam 2e-4, beta1 0.5); 7 trainings
            for 3 edits (one vanilla + one aug + one joint per edit).
        width, z_dim: DCGAN size (``width`` = channels of the last hidden layer).
        aug_prob: fraction of real images edited for the discriminator in (b).
        joint_weight, joint_lr: lambda on L_edit and Adam lr of w in (c).
        walk_steps, walk_lr: the Eq. 1 walk (batch 32) on the frozen generators of (a), (b).
        resolution, procedural, mnist: the data (see `steerlab.data.digits.digits_dataset`).
        n_eval: held-out samples for every measurement.
        resume, checkpoint_every: each finished training (GAN and walk of one set-up) is kept in a
            checkpoint beside ``out``; ``resume`` continues a run that died from the next one
            (`_resume.SubRuns`; an unfinished training starts over).

    Returns:
        ``{"out": Path, "metrics": dict}``; ``metrics["l2_at_max_alpha"][edit][mode]``.
    """
    edits = tuple(edits)
    for e in edits:
        if get_edit(e).alpha_dim != 1:
            raise ValueError(f"steerable-training needs scalar edits; '{e}' has {get_edit(e).alpha_dim} components")
    t_start = time.time()
    images, labels, data_text = dg.load_data(resolution, procedural, mnist, seed)
    real = dg.reference_subset(images, n_eval, seed)
    with Run("reproduce steerable-training", out, device=device, overwrite=overwrite) as run:
        tmp = run.folder
        runs, seconds = {}, {}

        subs = SubRuns(out, dict(edits=list(edits), gan_steps=gan_steps, batch_size=batch_size, width=width,
                                 z_dim=z_dim, aug_prob=aug_prob, joint_weight=joint_weight, joint_lr=joint_lr,
                                 walk_steps=walk_steps, walk_lr=walk_lr, resolution=resolution,
                                 procedural=procedural, mnist=mnist, n_eval=n_eval, seed=seed),
                       resume=resume, every=checkpoint_every)

        def train(edit, mode, name, pretrained=None):
            G, D = (pretrained, None) if pretrained is not None else digit_gan(
                resolution, images.shape[1], 10, z_dim=z_dim, width=width, seed=seed, name=name)
            saved = subs.done(f"{edit}-{mode}")  # a finished sub-run: its model, walk and times
            if saved is not None:
                tensors, state = saved
                r = {"G": G if pretrained is not None else load_module(G.to(device), tensors, "G"),
                     "direction": direction_from(tensors, state["direction"], "d"),
                     "gan_seconds": state["gan_seconds"], "walk_seconds": state["walk_seconds"]}
            else:
                cfg = dg.gan_config(gan_steps, batch_size, seed, aug_prob=aug_prob, joint_weight=joint_weight,
                                    joint_lr=joint_lr)
                r = train_steerable(G, D, images, labels, edit, mode, gan=cfg, walk_steps=walk_steps,
                                    walk_lr=walk_lr, pretrained=pretrained is not None, device=device,
                                    progress=progress)
                tensors, header = direction_tensors(r["direction"], "d")
                subs.finish(f"{edit}-{mode}", {**tensors, **({} if pretrained is not None else module_tensors(r["G"], "G"))},
                            {"direction": header, "gan_seconds": r["gan_seconds"], "walk_seconds": r["walk_seconds"]})
            if pretrained is None:
                dg.save_model(r["G"], tmp, dg.digits_card(f"digits DCGAN, {MODE_LABELS[mode]}"
                                                          + ("" if mode == "argmin_w" else f" ({edit})"),
                                                          training=mode))
            r["direction"].save(tmp / "directions" / f"{edit}-{mode}")
            seconds[f"{edit}/{mode}"] = {"gan": round(r["gan_seconds"], 1), "walk": round(r["walk_seconds"], 1)}
            return r

        vanilla = None
        for edit in edits:
            for mode in MODES:
                name = {"argmin_w": "digits-vanilla", "argmin_w_aug": f"digits-aug-{edit}",
                        "argmin_gw": f"digits-joint-{edit}"}[mode]
                if progress:
                    print(f"[steerable-training] {edit}: {MODE_LABELS[mode]}", flush=True)
                r = train(edit, mode, name, pretrained=vanilla if mode == "argmin_w" else None)
                if mode == "argmin_w":
                    vanilla = r["G"]
                runs[edit, mode] = r
        metrics = _measure(runs, edits, real, n_eval, seed, device, aug_prob)
        metrics["fid_real_floor"] = dg.fid_floor(images, n_eval, seed, device)
        metrics.update(config={"edits": list(edits), "gan_steps": gan_steps, "batch_size": batch_size,
                               "width": width, "z_dim": z_dim, "aug_prob": aug_prob,
                               "joint_weight": joint_weight, "joint_lr": joint_lr, "walk_steps": walk_steps,
                               "walk_lr": walk_lr, "resolution": resolution, "n_eval": n_eval, "seed": seed,
                               "data": data_text, "device": str(device)},
                       seconds=seconds, total_seconds=round(time.time() - t_start, 1))
        _figures(tmp, runs, edits, metrics, seed)
        metrics = run.write_metrics(metrics)
        _report(tmp, edits, metrics)
    subs.clear()
    summary = "\n".join(_ordering_lines(edits, metrics))
    return {"out": Path(out), "metrics": metrics, "summary": summary}


def _edited(real, edit: str, prob: float, seed: int):
    """The augmented data of set-up (b): each real digit edited at a random alpha with ``prob``."""
    e, g = get_edit(edit), seeds.generator(seed, seeds.AUGMENTATION)
    a = e.sample(real.shape[0], generator=g)
    a = torch.where(torch.rand(real.shape[0], generator=g) < prob, a, torch.full_like(a, e.identity))
    return e.fn(real, a)[0]


def _measure(runs: dict, edits, real, n_eval: int, seed: int, device, aug_prob: float = 0.5) -> dict:
    m = {"l2_at_max_alpha": {}, "baseline_l2_at_max_alpha": {}, "identity_at_max_alpha": {},
         "fid_alpha0": {}, "fid_alpha0_edited": {}, "curves": {}, "ordering": {}, "feature_network": dg.FEATURES,
         "attribute": {e: dg.ATTRIBUTE.get(e, (None, None))[1] for e in edits}, "attribute_at_ends": {},
         "classifier_accuracy": dg.classifier_accuracy(device)}
    fid_cache: dict[int, float] = {}
    for edit in edits:
        for key in ("l2_at_max_alpha", "baseline_l2_at_max_alpha", "identity_at_max_alpha", "fid_alpha0",
                    "fid_alpha0_edited", "curves", "attribute_at_ends"):
            m[key][edit] = {}
        edited = _edited(real, edit, aug_prob, seed)
        for mode in MODES:
            G, d = runs[edit, mode]["G"], runs[edit, mode]["direction"]
            c = target_l2(G, d, n=n_eval, n_alphas=9, seed=seed)
            ident = dg.per_alpha(G, d, n=n_eval, seed=seed, fid=False)
            m["curves"][edit][mode] = {"alphas": c["alphas"], "walk_l2": c["walk_l2"],
                                       "baseline_l2": c["baseline_l2"],
                                       "identity_walk": ident["identity_walk"],
                                       "identity_target": ident["identity_target"],
                                       "attribute_walk": ident["attribute_walk"],
                                       "attribute_target": ident["attribute_target"],
                                       "l2_per_sample": c["per_sample"],
                                       "attribute_per_sample": ident["attribute_per_sample"]}
            if ident["attribute_walk"]:
                m["attribute_at_ends"][edit][mode] = {
                    "walk": [ident["attribute_walk"][0], ident["attribute_walk"][-1]],
                    "target": [ident["attribute_target"][0], ident["attribute_target"][-1]],
                    "alpha0": ident["attribute_walk"][len(ident["attribute_walk"]) // 2]}
                a = m["attribute_at_ends"][edit][mode]  # same direction as the target at both ends?
                a["follows_target"] = all((w - a["alpha0"]) * (t - a["alpha0"]) > 0
                                          for w, t in zip(a["walk"], a["target"]))
            m["l2_at_max_alpha"][edit][mode] = dg.ends(c["walk_l2"])
            m["baseline_l2_at_max_alpha"][edit][mode] = dg.ends(c["baseline_l2"])
            m["identity_at_max_alpha"][edit][mode] = {"walk": dg.ends(ident["identity_walk"]),
                                                      "target": dg.ends(ident["identity_target"])}
            if id(G) not in fid_cache:
                fid_cache[id(G)] = dg.fid_of(G, real, n_eval, seed)
            m["fid_alpha0"][edit][mode] = fid_cache[id(G)]
            m["fid_alpha0_edited"][edit][mode] = dg.fid_of(G, edited, n_eval, seed)
        v = m["l2_at_max_alpha"][edit]
        m["ordering"][edit] = {"gw_below_w_aug": v["argmin_gw"] < v["argmin_w_aug"],
                               "w_aug_below_w": v["argmin_w_aug"] < v["argmin_w"],
                               "holds": v["argmin_gw"] < v["argmin_w_aug"] < v["argmin_w"]}
    return m


def _figures(folder: Path, runs: dict, edits, m: dict, seed: int) -> None:
    panels = []
    for edit in edits:
        e = get_edit(edit)
        series = {}
        for mode in MODES:
            c = m["curves"][edit][mode]
            series[MODE_LABELS[mode]] = (c["alphas"], c["walk_l2"], {"color": COLOURS[mode]})
        for mode in MODES:
            c = m["curves"][edit][mode]
            series[f"do nothing ({SHORT[mode]})"] = (c["alphas"], c["baseline_l2"],
                                                      {"color": COLOURS[mode], "ls": ":", "marker": None, "lw": 1})
        panels.append({"title": edit, "xlabel": f"alpha ({e.unit})", "ylabel": "masked L2 to target",
                       "series": series, "logx": e.mapping == "log"})
    dg.panel_plot(folder / "fig9_l2_vs_alpha.png", panels, ncols=len(edits))
    attr = []
    for edit in edits:
        if not m["curves"][edit]["argmin_w"]["attribute_walk"]:
            continue
        e, series = get_edit(edit), {}
        for mode in MODES:
            c = m["curves"][edit][mode]
            series[MODE_LABELS[mode]] = (c["alphas"], c["attribute_walk"], {"color": COLOURS[mode]})
            series[f"target ({SHORT[mode]})"] = (c["alphas"], c["attribute_target"],
                                                 {"color": COLOURS[mode], "ls": ":", "marker": None, "lw": 1})
        attr.append({"title": edit, "xlabel": f"alpha ({e.unit})", "ylabel": m["attribute"][edit], "series": series,
                     "logx": e.mapping == "log"})
    if attr:
        dg.panel_plot(folder / "attribute_vs_alpha.png", attr, ncols=len(attr))
    for edit in edits:
        alphas = get_edit(edit).grid(9)
        G0 = runs[edit, "argmin_w"]["G"]
        z, classes = held_out(G0, 3, seed + seeds.HELD_OUT_FIGURE_ROWS)
        rows, labels = [], []
        for mode in MODES:
            G, d = runs[edit, mode]["G"], runs[edit, mode]["direction"]
            for i, (walk, target) in enumerate(dg.strip_rows(G, d, z, classes, alphas)):
                rows += [target, walk]
                labels += [f"{SHORT[mode]} tgt{i}", f"{SHORT[mode]} walk{i}"]
        dg.save_strip(rows, labels, alphas, folder / f"strip_{edit}.png")


def _ordering_lines(edits, m: dict) -> list[str]:
    out = []
    for edit in edits:
        v, o = m["l2_at_max_alpha"][edit], m["ordering"][edit]
        a = m.get("attribute_at_ends", {}).get(edit, {})
        wrong = [SHORT[k] for k in MODES if k in a and not a[k]["follows_target"]]
        out.append(f"{edit}: L2 at max |alpha|: G,W {v['argmin_gw']:.4f}, W+aug {v['argmin_w_aug']:.4f}, "
                   f"W {v['argmin_w']:.4f} -> Fig. 9 ordering (G,W < W+aug < W) "
                   f"{'holds' if o['holds'] else 'does NOT hold'}"
                   + (f"; but the measured {m['attribute'][edit]} moves against the target for: "
                      f"{', '.join(wrong)}" if wrong else ""))
    return out


def _report(folder: Path, edits, m: dict) -> None:
    cfg = m["config"]
    rows = []
    for edit in edits:
        for mode in MODES:
            rows.append([edit, MODE_LABELS[mode], m["l2_at_max_alpha"][edit][mode],
                         m["baseline_l2_at_max_alpha"][edit][mode],
                         m["l2_at_max_alpha"][edit][mode] / max(m["baseline_l2_at_max_alpha"][edit][mode], 1e-12),
                         m["identity_at_max_alpha"][edit][mode]["walk"],
                         m["identity_at_max_alpha"][edit][mode]["target"], m["fid_alpha0"][edit][mode],
                         m["fid_alpha0_edited"][edit][mode]])
    order = _ordering_lines(edits, m)
    sections = [
        ("Set-up", html.text(
            f"Data: {cfg['data']}. Class-conditional DCGAN (z {cfg['z_dim']}, width {cfg['width']}), "
            f"{cfg['gan_steps']} steps at batch {cfg['batch_size']} per training; (b) edits each real image "
            f"with probability {cfg['aug_prob']}; (c) lambda {cfg['joint_weight']}, w lr {cfg['joint_lr']}. "
            f"Walks for (a), (b): {cfg['walk_steps']} Adam steps, batch 32. Measured on {cfg['n_eval']} "
            f"held-out (z, class); total {m['total_seconds']} s on {cfg['device']}.")),
        ("Fig. 9: L2 to the target vs alpha", html.image("fig9_l2_vs_alpha.png", "Fig. 9")
         + html.text("Solid: the walk; dotted: doing nothing, for the same generator. The dotted curves differ "
                     "between set-ups because each GAN draws its own digits.")
         + "".join(html.text(t) for t in order)),
        ("At the ends of the range", html.text(
            "L2 and identity are means over the two ends of the alpha range (largest |alpha_g|). identity = "
            f"fraction the digit CNN (held-out accuracy {m['classifier_accuracy']:.3f} on augmented real digits) "
            "reads as the conditioning class, for the walk and for the target edit(G(z), alpha); "
            f"FID at alpha = 0 of each GAN vs the real digits in {m['feature_network']} features "
            f"(real digits vs real digits at this sample size: {dg.fmt(m['fid_real_floor'])}), and vs the real "
            "digits edited as in (b) (each at a random alpha with probability aug_prob): the data (b) and "
            "(c) are trained to match, so the first FID penalises them for drawing edited digits.")
         + html.table(["edit", "set-up", "walk L2", "do-nothing L2", "walk / nothing", "identity walk",
                       "identity target", "FID alpha=0", "FID alpha=0 vs edited data"], rows)),
    ]
    attr_rows = [[edit, MODE_LABELS[mode], a["walk"][0], a["target"][0], a["alpha0"], a["walk"][1], a["target"][1],
                  "yes" if a["follows_target"] else "NO"]
                 for edit in edits for mode, a in m["attribute_at_ends"].get(edit, {}).items()]
    if attr_rows:
        sections.append(("Does the walk move the attribute? (measured)", html.text(
            "A lower L2 is not proof of steering: a walk can also lower the masked L2 by moving the digit "
            "*under the mask* (the exposed border, which does not count) or by blurring. So the attribute "
            "each edit moves is read from the ink of the images (centre x for shift_x, RMS radius for zoom, "
            "turn of the principal axis for rotate2d; see `ink_moments`), for the walk and for the target, "
            "at both ends of the range. A walk that steers has the target's sign and a comparable size.")
            + html.image("attribute_vs_alpha.png", "attribute vs alpha")
            + html.table(["edit", "set-up", "walk (low end)", "target (low end)", "walk at identity",
                          "walk (high end)", "target (high end)", "moves with the target"], attr_rows)))
    ps_rows = [r for edit in edits for r in dg.per_sample_rows(edit, m["curves"][edit], MODE_LABELS)]
    sections.append(("Per sample", html.text(dg.PER_SAMPLE_TEXT) + html.table(dg.PER_SAMPLE_HEAD, ps_rows)))
    for edit in edits:
        c = m["curves"][edit]
        id_rows = [[f"{a:.3g}"] + [c[mode]["walk_l2"][j] for mode in MODES]
                   + [c[mode]["identity_walk"][j] for mode in MODES] + [c[mode]["identity_target"][j] for mode in MODES]
                   for j, a in enumerate(c["argmin_w"]["alphas"])]
        head = ["alpha"] + [f"L2 {SHORT[k]}" for k in MODES] + [f"identity walk {SHORT[k]}" for k in MODES] \
            + [f"identity target {SHORT[k]}" for k in MODES]
        sections.append((f"Strips: {edit} (Figs. 28-30)", html.text(
            "Per set-up and sample: the target edit(G(z), alpha) (grey = undefined), then the walk. "
            "Same z and class in every set-up; each set-up has its own generator.")
            + html.image(f"strip_{edit}.png", f"{edit} strips")
            + html.text("Per alpha: L2 of the walk, and the digit CNN's reading of the conditioning class on "
                        "the walk and on the target (the target's is what a perfect walk would score: "
                        "extreme zooms are hard to read even when exact).")
            + html.table(head, id_rows)))
    html.write_report(folder / "report.html", "Steerable training on digits (Jahanian et al. Fig. 9)", sections)
