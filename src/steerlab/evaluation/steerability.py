"""Measurements of a direction on held-out samples.

`target_l2` is the walk's own yardstick (Jahanian et al., Fig. 9 and our walk reports): at each
alpha of the edit's grid, the masked L2 between the steered image and the target
edit(G(z), alpha), beside the do-nothing baseline L2(G(z), edit(G(z), alpha)). A walk that beats
the baseline has learned *something*; whether it steers the attribute is measured separately.
"""
from __future__ import annotations

import math

import torch

from steerlab.core import distributed, seeds
from steerlab.directions import Direction
from steerlab.edits import get_edit
from steerlab.metrics.losses import masked_l2
from steerlab.models.base import Generator

held_out = seeds.held_out  # the held-out codes every evaluation uses


@torch.no_grad()
def target_l2(G: Generator, d: Direction, *, n: int = 64, n_alphas: int = 9, seed: int = 0,
              batch_size: int = 32) -> dict:
    """Per-alpha mean masked L2 of the walk and of doing nothing, on ``n`` held-out samples.

    Returns:
        ``{"alphas": [...], "walk_l2": [...], "baseline_l2": [...], "walk_l2_mean": float,
        "baseline_l2_mean": float, "n": n}``; alphas in the edit's user units (a list of
        RGB triples for colour).
    """
    if d.edit is None:
        raise ValueError("target_l2 needs a direction trained for an image edit")
    edit = get_edit(d.edit)
    z, classes = held_out(G, n, seed)
    alphas = edit.grid(n_alphas)
    own = distributed.shard(n, batch_size)  # data-parallel: whole batches per rank, gathered below
    walk, base, paired, per_alpha = [], [], [], []
    for a in alphas:
        per_sample = []  # (B, 2): walk and do-nothing L2 of each sample
        for i in range(own.start, own.stop, batch_size):
            zb = z[i:min(i + batch_size, own.stop)]
            cb = None if classes is None else classes[i:i + zb.shape[0]]
            src = G.synthesize(G.to_space(zb, d.space, cb), space=d.space, classes=cb)
            target, mask = edit(src, a)
            out = d.render(G, zb, a, classes=cb)
            per_sample.append(torch.stack([masked_l2(out, target, mask), masked_l2(src, target, mask)], 1))
        values = distributed.gather(torch.cat(per_sample) if per_sample else torch.zeros(0, 2, device=z.device))
        wl = bl = 0.0
        for i in range(0, n, batch_size):  # summed batch by batch as in one process: same floats
            wl += values[i:i + batch_size, 0].sum().item()
            bl += values[i:i + batch_size, 1].sum().item()
        walk.append(wl / n)
        base.append(bl / n)
        paired.append(values[:n].cpu())
        per_alpha.append(_l2_per_sample(values))
    return {"alphas": alphas.tolist(), "walk_l2": walk, "baseline_l2": base,
            "walk_l2_mean": sum(walk) / len(walk), "baseline_l2_mean": sum(base) / len(base), "n": n,
            "per_sample": per_alpha, **beats_doing_nothing(torch.stack(paired, 1))}


GAIN_NEEDED = 0.05  # the walk must cut the do-nothing L2 by 5 % (and for most samples) to count as a walk


def beats_doing_nothing(l2: torch.Tensor, gain_needed: float = GAIN_NEEDED) -> dict:
    """Whether a walk does better than leaving the image as it is, per sample and overall.

    Args:
        l2: (N, A, 2) masked L2 to the target of the walk ([..., 0]) and of doing nothing ([..., 1]),
            for the same N samples at A alphas (values >= 0).
        gain_needed: the relative cut of the mean L2 a walk must reach, in [0, 1).

    Returns:
        ``l2_gain`` (1 - walk / do-nothing, mean over samples and alphas; > 0 is better),
        ``median_paired_change`` (median over samples of walk - do-nothing, each averaged over alphas;
        < 0 is better), ``fraction_samples_better`` (share of samples whose walk L2 is lower) and
        ``beats_doing_nothing`` (gain >= ``gain_needed`` and more than half the samples better).
    """
    per_sample = l2.double().mean(1)  # (N, 2)
    walk, base = per_sample[:, 0], per_sample[:, 1]
    gain = 1.0 - float(walk.mean()) / max(float(base.mean()), 1e-12)
    better = float((walk < base).double().mean())
    return {"l2_gain": gain, "median_paired_change": float((walk - base).median()),
            "fraction_samples_better": better, "beats_doing_nothing": bool(gain >= gain_needed and better > 0.5)}


def _l2_per_sample(values: torch.Tensor) -> dict:
    """Per sample at one alpha, the walk's L2 minus doing nothing's (`metrics.stats.paired_change`);
    ``asked_way`` is the fraction of samples the walk brings closer to the target than doing
    nothing (None at the identity, where doing nothing is exact)."""
    from steerlab.metrics.stats import paired_change

    base, walk = values[:, 1].double().cpu(), values[:, 0].double().cpu()
    return paired_change(base, walk, sign=None if bool((base < 1e-9).all()) else -1)


# --------------------------------------------------------------------------- steerability
# Jahanian et al. Sec. 3 "Quantifying Steerability", Sec. 4.1, Figs. 4, 5, 10, 11, App. B.1-B.2:
# walk held-out samples over a grid of alphas, read an attribute of every image with a detector,
# and compare its distribution under model(alpha) with G(z) and with the dataset; FID per alpha
# keeps the walk on the image manifold; the perceptual distance between consecutive alphas shows
# where the walk stops changing the image.

def attribute_of(G: Generator, d: Direction, measure: str | None = None,
                 key: str | None = None) -> tuple[str, tuple[str, ...]]:
    """The (measure, keys) a direction is read with; the first key is the primary attribute.

    Order of precedence: the arguments; the edit's entry in ``measure.ATTRIBUTE_FOR_EDIT``,
    with its generic measure swapped for the model card's choice (``card["measures"]``, e.g.
    ``{"colour": "object_colour"}`` for shapes); else saliency (x, y, area) - the generic
    measure for any model and any direction (also rotations and unnamed directions).
    """
    from steerlab.attributes import ATTRIBUTE_FOR_EDIT, attribute_for_edit, get_measure

    card_measures = (getattr(G, "card", None) or {}).get("measures", {})
    default = ATTRIBUTE_FOR_EDIT.get(d.edit) if d.edit else None
    if default is not None:
        name = measure or card_measures.get(default[0], default[0])
        name, keys = attribute_for_edit(d.edit, name) if name != default[0] else default
        keys = keys if isinstance(keys, tuple) else (keys,)
    else:
        name = measure or "saliency"
        keys = tuple(k for k in get_measure(name).keys if k != "found")
    m = get_measure(name)
    if key is not None:
        if key not in m.keys:
            raise ValueError(f"measure '{name}' has no attribute '{key}'; allowed: {', '.join(m.keys)}")
        keys = (key,) + tuple(k for k in keys if k != key)
    return name, keys


def _batched_render(G: Generator, d: Direction, z: torch.Tensor, classes, alpha, batch_size: int):
    out = []
    for i in range(0, z.shape[0], batch_size):
        cb = None if classes is None else classes[i:i + batch_size]
        out.append(d.render(G, z[i:i + batch_size], alpha, classes=cb))
    if not out:  # an empty shard (more ranks than batches)
        return torch.zeros(0, G.channels, G.resolution, G.resolution, device=G.device)
    return torch.cat(out)


def _gathered_measure(m, images: torch.Tensor, keys, batch_size: int) -> dict[str, torch.Tensor]:
    """``m`` on ``images`` batch by batch, keys gathered over ranks (float64, CPU)."""
    parts = [m(images[i:i + batch_size]) for i in range(0, images.shape[0], batch_size)]
    return {k: distributed.gather(torch.cat([p[k].detach().double().cpu() for p in parts]) if parts
                                  else torch.zeros(0, dtype=torch.float64)) for k in keys}


def _stats(v: torch.Tensor) -> dict:
    ok = torch.isfinite(v)
    f = v[ok]
    return {"mean": float(f.mean()) if f.numel() else float("nan"),
            "std": float(f.std()) if f.numel() > 1 else float("nan"),
            "found_rate": float(ok.float().mean())}


def reference_images(G: Generator, n: int, seed: int = 0) -> dict:
    """The images a model is compared with: its training dataset (model card ``"dataset"``) if
    steerlab knows it, else fresh samples G(z) (a different seed from the held-out set).

    Returns:
        ``{"images": (n, C, H, W), "labels": (n,) or None, "name": str, "is_data": bool}``.
    """
    from steerlab.data.registry import DATASETS, get_dataset

    card = getattr(G, "card", None) or {}
    name = card.get("dataset")
    if name in DATASETS:
        images, labels, _ = get_dataset(name, n, card.get("resolution_data", G.resolution),
                                      seed + seeds.EVAL_HELD_OUT)
        return {"images": images, "labels": labels, "name": f"{n} images of dataset '{name}' (fresh draw)",
                "is_data": True}
    g = seeds.generator(seed, seeds.EVAL_MODEL_REFERENCE)
    z, c = G.sample_z(n, generator=g), G.sample_classes(n, generator=g)
    images = torch.cat([G.synthesize(z[i:i + 64], classes=None if c is None else c[i:i + 64])
                        for i in range(0, n, 64)])
    return {"images": images.cpu(), "labels": c, "name": f"{n} fresh samples G(z) (no dataset known)",
            "is_data": False}


@torch.no_grad()
def steerability(G: Generator, d: Direction, *, n: int = 200, n_alphas: int = 9, alphas=None,
                 measure: str | None = None, key: str | None = None, n_reference: int | None = None,
                 fid_features: str | None = None, fid: bool = True, perceptual_net: str = "alex",
                 class_names: list[str] | None = None, seed: int = 0, batch_size: int = 50,
                 progress: bool = True, checkpoint=None) -> dict:
    """Attribute distributions, intersections, FID and perceptual steps of a direction over alpha.

    Works for any direction kind (it only calls ``Direction.render``).

    Args:
        G, d: the model and a direction learned for it.
        n: held-out samples (same z at every alpha; classes uniform for conditional models).
        n_alphas, alphas: the grid (default: ``n_alphas`` evenly spaced in alpha_g over the
            direction's range, identity included); ``alphas`` in the direction's units.
        measure, key: what to read (see `attribute_of`); every key of the measure that the edit
            reads is recorded, the first is the primary attribute.
        n_reference: dataset (or fresh G(z)) images for FID and the dataset distribution (default ``n``).
        fid_features: feature network for FID/KID (default: model card ``"fid_features"`` or
            ``"stlpips-vgg"``). ``fid=False`` skips FID.
        perceptual_net: ST-LPIPS trunk for the perceptual distances ("alex" or "vgg").
        class_names: names for per-class results (default: card ``class_names`` or indices).
        checkpoint: a `steerlab.core.checkpoint.Checkpoint`: the results of the alphas measured so
            far are saved every ``checkpoint.every`` alphas and a rerun continues after the last
            saved one (one process only; ignored under torchrun).

    Returns:
        JSON-able dict: ``alphas``; ``measure``, ``keys``, ``primary``; ``attribute[key]``
        (``mean``, ``std``, ``found_rate`` per alpha); ``values`` (primary attribute of every
        sample at every alpha, NaN as None); ``base`` (the same for G(z)); ``dataset`` (its
        values, mean, std; None if no dataset is known); ``intersection_model`` and
        ``intersection_data`` per alpha (Fig. 5 / 10); ``fid``, ``kid`` per alpha, ``fid_base``
        (G(z) vs the reference), ``reference``, ``feature_network``; ``perceptual_steps``
        (mean ST-LPIPS between consecutive alphas, Fig. 11) with ``perceptual_mid`` (the
        midpoints, in alpha_g); ``per_class`` (conditional models: per-class attribute means per
        alpha and perceptual distance G(z) -> model(alpha) at the two ends, Fig. 4).
    """
    from tqdm.auto import tqdm

    from steerlab.attributes import get_measure
    from steerlab.metrics.stats import intersection, ttest

    if n < 2:
        raise ValueError(f"steerability needs n >= 2 samples, got {n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    grid = d.knob.grid(n_alphas) if alphas is None else d.knob.check(alphas)
    if grid.shape[0] < 2:
        raise ValueError("steerability needs at least 2 alphas")
    name, keys = attribute_of(G, d, measure, key)
    m = get_measure(name)
    card = getattr(G, "card", None) or {}
    z, classes = held_out(G, n, seed)
    # Data-parallel (steerlab.core.distributed): each rank renders, measures and embeds whole batches
    # of the held-out samples and the per-sample results are gathered in order, so every rank
    # ends with the numbers one process computes. In one process `own` is everything.
    own = distributed.shard(n, batch_size)
    show = progress and distributed.is_main()
    # one bar over the phases: base images, reference set, then one step per alpha
    bar = tqdm(total=2 + len(grid), desc="evaluate: base images", disable=not show, leave=False)
    identity = torch.full_like(grid[:1], d.knob.identity)
    base = _batched_render(G, d, z[own], None if classes is None else classes[own], identity[0], batch_size)
    base_attr = _gathered_measure(m, base, keys, batch_size)
    # ST-LPIPS features once per image: G(z)'s for the two ends, each alpha's for its two neighbours
    base_feats = _batched_features(base, perceptual_net, batch_size)
    bar.update(1)
    bar.set_description_str("evaluate: reference set")
    ref = reference_images(G, n_reference or n, seed)
    features = fid_features or card.get("fid_features", "stlpips-vgg")
    if fid and features == "shapes-classifier":
        from steerlab.metrics import shapes_features  # noqa: F401  (registers it)
    from steerlab.metrics.fid import feature_network, fid_kid_features, image_features
    net = feature_network(features, G.device) if fid else None

    def fid_of(real_feats, imgs):  # features of this rank's images, gathered, then the scores
        fake_feats = distributed.gather(image_features(net, imgs, batch_size, G.device))
        return fid_kid_features(real_feats, fake_feats, features=features, batch_size=batch_size,
                                device=G.device, kid_subset_size=min(100, n))

    res: dict = {"model": G.name, "direction": d.describe(), "kind": d.kind, "edit": d.edit,
                 "alphas": grid.tolist(), "alpha_unit": d.alpha.unit, "n": n, "seed": seed,
                 "measure": name, "measure_description": m.description, "keys": list(keys),
                 "primary": keys[0], "attribute": {k: [] for k in keys}, "values": [],
                 "intersection_model": [], "intersection_data": [], "fid": [], "kid": [],
                 "perceptual_steps": [], "perceptual_net": perceptual_net,
                 "reference": ref["name"], "feature_network": features if fid else None}
    res["base"] = {"values": _jsonable(base_attr[keys[0]]), **_stats(base_attr[keys[0]])}
    ref_own = distributed.shard(ref["images"].shape[0], batch_size)
    ref_attr = (_gathered_measure(m, ref["images"][ref_own].to(G.device), keys, batch_size)[keys[0]]
                if ref["is_data"] else None)
    res["dataset"] = None if ref_attr is None else {"values": _jsonable(ref_attr), **_stats(ref_attr)}
    # The pair of classes for the per-class t-test, fixed from the data before the walk is measured.
    res["ttest_pair_prechosen"] = (prechosen_pair(ref_attr, ref["labels"], class_names or card.get("class_names"),
                                                  G.num_classes)
                                   if classes is not None and ref_attr is not None else None)
    if fid:
        ref_feats = distributed.gather(image_features(net, ref["images"][ref_own], batch_size, G.device))
        res["fid_base"] = fid_of(ref_feats, base)["fid"]
    bar.update(1)
    bv = base_attr[keys[0]]
    prev, per_sample_to_base = None, []
    checkpoint = checkpoint if distributed.world() == 1 else None
    start, prev_imgs, per_sample_to_base = _resumed(checkpoint, res, None, per_sample_to_base)
    prev = None if prev_imgs is None else _batched_features(prev_imgs.to(G.device), perceptual_net, batch_size)
    bar.update(start)
    for j, a in enumerate(grid):
        if j < start:  # measured before the run was interrupted
            continue
        bar.set_description_str(f"evaluate: alpha {j + 1}/{len(grid)}")
        imgs = _batched_render(G, d, z[own], None if classes is None else classes[own], a, batch_size)
        feats = _batched_features(imgs, perceptual_net, batch_size)
        attr = _gathered_measure(m, imgs, keys, batch_size)
        for k in keys:
            res["attribute"][k].append(_stats(attr[k]))
        v = attr[keys[0]]
        res["values"].append(_jsonable(v))
        res["intersection_model"].append(_intersect(intersection, v, bv))
        if ref_attr is not None:
            res["intersection_data"].append(_intersect(intersection, v, ref_attr))
        if fid:
            s = fid_of(ref_feats, imgs)
            res["fid"].append(s["fid"])
            res["kid"].append(s["kid_mean"])
        if prev is not None:
            res["perceptual_steps"].append(float(distributed.gather(
                _compare_features(prev, feats, perceptual_net)).mean()))
        if j in (0, len(grid) - 1):  # the two ends only
            per_sample_to_base.append(distributed.gather(_compare_features(base_feats, feats, perceptual_net)))
        prev = feats
        if checkpoint is not None and checkpoint.due(j + 1) and j + 1 < len(grid):
            checkpoint.save({"prev": imgs, **{f"to_base.{i}": t for i, t in enumerate(per_sample_to_base)}},
                            {"alphas_done": j + 1, "res": res})
        bar.update(1)
    bar.close()
    g = d.knob.to_g(grid).reshape(grid.shape[0], -1)
    xs = g[:, 0] if g.shape[1] == 1 else torch.arange(len(grid), dtype=torch.float32)
    res["perceptual_mid"] = ((xs[1:] + xs[:-1]) / 2).tolist()
    if g.shape[1] == 1:  # the same midpoints in the direction's own units (a zoom factor, not its log)
        res["perceptual_mid_t"] = d.knob.to_t(xs[1:] / 2 + xs[:-1] / 2).tolist()
    res["perceptual_to_base_ends"] = [float(p.mean()) for p in per_sample_to_base]
    if classes is not None:
        names = class_names or card.get("class_names") or [str(k) for k in range(G.num_classes)]
        res["per_class"], res["per_class_ttest"] = _per_class(classes, names, res["values"],
                                                              per_sample_to_base, ttest)
        if res["per_class_ttest"] is not None:
            res["per_class_ttest"]["choice"] = "post hoc: the most and least moved classes, picked after measuring"
        res["per_class_ttest_prechosen"] = prechosen_ttest(res["ttest_pair_prechosen"], res["per_class"], ttest)
    res["per_sample"] = per_sample_changes(res["base"]["values"], res["values"], res["alphas"],
                                           asked_signs(d, res["alphas"], keys[0]))
    return res


def _resumed(checkpoint, res: dict, prev, to_base: list) -> tuple[int, torch.Tensor | None, list]:
    """``(alphas done, last images, per-sample distances to the base)`` of the checkpoint's last
    save, its results put into ``res``; ``(0, prev, to_base)`` unchanged without one."""
    saved = None if checkpoint is None else checkpoint.load()
    if saved is None:
        return 0, prev, to_base
    tensors, state = saved
    res.update(state["res"])
    ends = [tensors[f"to_base.{i}"] for i in range(len(tensors) - 1)]  # CPU, as `_compare_features` gives
    return int(state["alphas_done"]), tensors["prev"], ends


def asked_signs(d: Direction, alphas: list, primary: str) -> list[int | None]:
    """The way the edit asks the primary attribute to move at each alpha: +1, -1, or None.

    Every edit's attribute rises with its alpha (``attributes.ATTRIBUTE_FOR_EDIT``), so the asked
    way is the sign of alpha - identity; for colour triples, that of the primary channel's
    component. A direction without an edit asks for nothing (None).
    """
    if d.edit is None:
        return [None] * len(alphas)
    out = []
    for a in alphas:
        if isinstance(a, (list, tuple)):
            channel = ("r", "g", "b").index(primary) if primary in ("r", "g", "b") and len(a) == 3 else None
            delta = None if channel is None else a[channel] - d.knob.identity
        else:
            delta = a - d.knob.identity
        out.append(None if delta is None or delta == 0 else (1 if delta > 0 else -1))
    return out


def per_sample_changes(base: list, values: list, alphas: list, signs: list) -> list[dict]:
    """`metrics.stats.paired_change` of every alpha's values against the identity's (``base``).

    Returns one dict per alpha (``alpha`` added), JSON-able: median / IQR of the per-sample change,
    fraction of samples moving the asked way, fraction detected at both alphas.
    """
    from steerlab.metrics.stats import paired_change

    return [{"alpha": a, "asked": s, **paired_change(base, v, sign=s)} for a, v, s in zip(alphas, values, signs)]


def prechosen_pair(ref_values, ref_labels, names, num_classes: int) -> dict | None:
    """`metrics.stats.sigma_pair` on the reference data's attribute (None when it cannot be chosen)."""
    from steerlab.metrics.stats import sigma_pair

    if ref_labels is None:
        return None
    names = names or [str(k) for k in range(num_classes)]
    try:
        pair = sigma_pair(ref_values, ref_labels, names)
    except ValueError:
        return None
    return {**pair, "choice": "chosen before measuring: the classes with the largest and smallest "
                              "attribute spread in the dataset"}


def prechosen_ttest(pair: dict | None, per_class: dict, ttest) -> dict | None:
    """The t-test of the perceptual distance at the high end between the pre-chosen classes."""
    if pair is None or pair["high"] not in per_class or pair["low"] not in per_class:
        return None
    try:
        t = ttest(per_class[pair["high"]]["perceptual_high"], per_class[pair["low"]]["perceptual_high"])
    except ValueError:  # constant distances or too few samples
        return None
    return {"high_sigma": pair["high"], "low_sigma": pair["low"], "choice": pair["choice"], **t}


def _jsonable(v: torch.Tensor) -> list:
    return [None if not math.isfinite(x) else round(x, 5) for x in v.detach().cpu().double().tolist()]


def _finite(v) -> torch.Tensor:
    v = torch.as_tensor([float("nan") if x is None else x for x in v] if isinstance(v, list) else v)
    return v[torch.isfinite(v)]


def _intersect(fn, a: torch.Tensor, b: torch.Tensor) -> float | None:
    a, b = _finite(a), _finite(b)
    return fn(a, b) if a.numel() and b.numel() else None


def _batched_features(x: torch.Tensor, net: str, batch_size: int) -> list[list[torch.Tensor]]:
    """ST-LPIPS features of ``x`` (N, C, H, W), one list of 5 tensors per batch of ``batch_size``."""
    from steerlab.metrics.perceptual import perceptual_features

    return [perceptual_features(x[i:i + batch_size], net) for i in range(0, x.shape[0], batch_size)]


def _compare_features(fx: list[list[torch.Tensor]], fy: list[list[torch.Tensor]], net: str) -> torch.Tensor:
    """Per-sample ST-LPIPS distances (N,) of two images sets from their `_batched_features` (CPU float)."""
    from steerlab.metrics.perceptual import perceptual_compare

    if not fx:
        return torch.zeros(0)
    return torch.cat([perceptual_compare(a, b, net) for a, b in zip(fx, fy)]).float().cpu()


def _per_class(classes: torch.Tensor, names: list[str], values: list, to_base: list, ttest):
    """Per class: mean primary attribute per alpha, its delta between the two ends (Eq. 6), and
    the perceptual distance G(z) -> model(alpha) at both ends (Fig. 4 boxplots); plus the
    two-sample t-test of that distance at the high end between the most and least moved class."""
    classes = classes.cpu()
    out = {}
    for k in range(len(names)):
        sel = (classes == k).nonzero().flatten().tolist()
        if not sel:
            continue
        means = [float(_finite([row[i] for i in sel]).mean()) if _finite([row[i] for i in sel]).numel()
                 else None for row in values]
        out[names[k]] = {"n": len(sel), "attribute_mean": means,
                         "delta_mu": None if means[0] is None or means[-1] is None else means[-1] - means[0],
                         "perceptual_low": [round(float(to_base[0][i]), 5) for i in sel],
                         "perceptual_high": [round(float(to_base[-1][i]), 5) for i in sel]}
    ranked = sorted((v for v in out.values() if len(v["perceptual_high"]) >= 2),
                    key=lambda v: sum(v["perceptual_high"]) / len(v["perceptual_high"]))
    test = None
    if len(ranked) >= 2:
        hi = next(k for k, v in out.items() if v is ranked[-1])
        lo = next(k for k, v in out.items() if v is ranked[0])
        try:
            test = {"most": hi, "least": lo, **ttest(ranked[-1]["perceptual_high"], ranked[0]["perceptual_high"])}
        except ValueError:  # constant distances (e.g. a walk that changes nothing)
            test = None
    return out, test


@torch.no_grad()
def per_sample_attribute(G: Generator, d: Direction, *, alphas=None, n_alphas: int = 9, measure: str | None = None,
                         key: str | None = None, n: int = 48, seed: int = 0, batch_size: int = 50) -> dict:
    """The per-sample part of `steerability` alone (no FID, no perceptual distances): the primary
    attribute of ``n`` held-out samples at each alpha, and each sample's paired change against
    itself at alpha's identity (`metrics.stats.paired_change`). Cheap enough to check a claim.

    Returns:
        ``{"alphas", "measure", "primary", "n", "mean": [...], "found_rate": [...], "base": [...],
        "values": [[...] per alpha], "per_sample": [paired_change + "alpha", "asked" per alpha]}``.
    """
    from steerlab.attributes import get_measure

    if n < 2:
        raise ValueError(f"per_sample_attribute needs n >= 2 samples, got {n}")
    grid = d.knob.grid(n_alphas) if alphas is None else d.knob.check(alphas)
    name, keys = attribute_of(G, d, measure, key)
    m = get_measure(name)
    z, classes = held_out(G, n, seed)
    identity = torch.full_like(grid[:1], d.knob.identity)[0]
    base = m(_batched_render(G, d, z, classes, identity, batch_size))[keys[0]].double().cpu()
    values = [m(_batched_render(G, d, z, classes, a, batch_size))[keys[0]].double().cpu() for a in grid]
    alist = grid.tolist()
    return {"alphas": alist, "measure": name, "primary": keys[0], "n": n,
            "mean": [_stats(v)["mean"] for v in values], "found_rate": [_stats(v)["found_rate"] for v in values],
            "base": _jsonable(base), "values": [_jsonable(v) for v in values],
            "per_sample": per_sample_changes(_jsonable(base), [_jsonable(v) for v in values], alist,
                                             asked_signs(d, alist, keys[0]))}
