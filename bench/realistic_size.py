"""What steerlab costs at realistic sizes: random-weight generators with the real shapes, measured in one run.

Models (steerlab's own classes, random weights, seed 0):
- ``sg2-256``:  StyleGAN2 config-f at 256 px (rosinality's channel_multiplier 2 = NVIDIA's channel_base 32768);
- ``sg3t-256``: StyleGAN3-T at 256 px (upstream's defaults: channel_base 32768, 14 layers);
- ``sg2-1024``: StyleGAN2 config-f at 1024 px (only with ``--full``; batch ``--batch-1024``, default 1).

Cases, each timed and its peak memory measured in a fresh subprocess:
- ``fwd``:      G.synthesize(z) without grad (the floor of a render);
- ``fwd+bwd``:  G.synthesize(z) with grad w.r.t. z, then backward (weights frozen, as every method keeps them):
                the floor the training-like cases are divided by;
- ``walk z``:   one Adam step of a linear zoom walk in z (`steerlab.methods.walks.linear.walk_step`, masked L2);
- ``walk w+``:  the same step in w+;
- ``hvp``:      one exact Hessian-vector product of ST-LPIPS (alex) w.r.t. a mid-level conv weight, from a
                fresh first-order graph (`steerlab.methods.paramspace.hessian.LayerHessian.hvp`, one vector);
- ``hvp-l2``:   the same HVP with pixel L2 as the distance (not in the default cases): what G's own double
                backward costs, without the ST-LPIPS network;
- ``invert``:   one Adam step of `steerlab.methods.trajectories.invert` (blurred L2, norm ball), timed between
                its ``on_step`` hooks, its memory the peak of a 2-step inversion;
- ``ui``:       one UI render, batch 1: `steerlab.directions.combine.steer` with a zoom and an RGB colour
                linear direction in w (what the UI's ``render_image`` calls), divided by ``fwd`` at batch 1.

Peak memory: on the CPU, the process's peak resident set size during the first call of the case minus its
resident set size just before it (Linux ``/proc/self/status`` VmHWM - VmRSS, the peak reset through
``/proc/self/clear_refs``; ``ru_maxrss`` minus the RSS after building when that file is not writable); on
CUDA ``torch.cuda.max_memory_allocated`` minus the allocation before the call. Time: the fastest of
``--repeats`` further calls (the least disturbed by other load; with ``--repeats 0`` the first call's).
Ratios use numbers from this one run.
A case above ``--flag`` (default 2) times the memory of its floor is marked ``<-- over``.

    python bench/realistic_size.py                    # 256 px models, batch 4
    python bench/realistic_size.py --models sg3t-256 --batch 1 --repeats 0   # what fits a busy CPU
    python bench/realistic_size.py --full             # + StyleGAN2 config-f at 1024 px (batch 1)
    python bench/realistic_size.py --device cuda      # the same code on a GPU

On a CPU this is slow: one forward+backward of the 256 px StyleGAN2 at batch 4 took 97-187 s of wall
time on 2 cores shared with other jobs, and its whole column (8 processes) about 80 minutes. Each
case's peak is measured in its own process, so running the cases one at a time (``--cases``) gives the
same numbers.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import subprocess
import sys
import time
from typing import Callable

import torch

MODELS = ("sg2-256", "sg3t-256", "sg2-1024")
CASES = ("fwd", "fwd+bwd", "walk z", "walk w+", "hvp", "hvp-l2", "invert", "ui")
FLOOR = {"walk z": "fwd+bwd", "walk w+": "fwd+bwd", "hvp": "fwd+bwd", "hvp-l2": "fwd+bwd", "invert": "fwd+bwd",
         "ui": "fwd"}


# ------------------------------------------------------------------------------------------- models
def build(model: str):
    """A random-weight generator with the real shapes of ``model`` (frozen, eval mode)."""
    from steerlab.models.stylegan2 import StyleGAN2Generator, default_channels
    from steerlab.models.stylegan3 import StyleGAN3Generator
    torch.manual_seed(0)
    if model.startswith("sg2-"):
        res = int(model.split("-")[1])
        G = StyleGAN2Generator(resolution=res, z_dim=512, w_dim=512, n_mlp=8,
                               channels=default_channels(res, channel_base=32768), name=f"stylegan2-f-{res}")
    elif model == "sg3t-256":
        G = StyleGAN3Generator(z_dim=512, w_dim=512, img_resolution=256, channel_base=32768, channel_max=512,
                               num_layers=14, mapping_kwargs={"num_layers": 2}, name="stylegan3-t-256")
    else:
        raise ValueError(f"unknown model {model!r}; allowed: {', '.join(MODELS)}")
    return G.eval().requires_grad_(False)


def mid_conv(G) -> str:
    """The middle weight of the synthesis network, in the order its layers run."""
    names = list(G.shiftable_weights())
    return names[len(names) // 2]


# ------------------------------------------------------------------------------------------- cases
def make_case(case: str, G, batch: int, device: torch.device) -> tuple[Callable[[], object], Callable]:
    """``(run, timer)``: ``run()`` does the case once; ``timer(run)`` returns its seconds."""
    from steerlab.directions import Direction, alpha_spec
    from steerlab.edits import get_edit
    from steerlab.metrics.losses import masked_l2

    g = torch.Generator().manual_seed(1)
    z = G.sample_z(batch, generator=g)

    def wall(run):
        sync(device)
        t = time.perf_counter()
        run()
        sync(device)
        return time.perf_counter() - t

    if case == "fwd":
        def run():
            with torch.no_grad():
                return G.synthesize(z)
        return run, wall
    if case == "fwd+bwd":
        def run():
            zz = z.clone().requires_grad_(True)
            G.synthesize(zz).mean().backward()
        return run, wall
    if case in ("walk z", "walk w+"):
        from steerlab.methods.walks.linear import walk_step
        space = case.split()[1]
        shape = G.latent_shape(space)
        w = torch.zeros(1, *shape, device=device, requires_grad=True)
        opt = torch.optim.Adam([w], lr=0.01)
        edit = get_edit("zoom")

        def run():
            opt.zero_grad(set_to_none=True)
            walk_step(G, edit, w, masked_l2, space=space, batch_size=batch, generator=g).backward()
            opt.step()
        return run, wall
    if case in ("hvp", "hvp-l2"):
        from steerlab.methods.paramspace.hessian import LayerHessian
        H = LayerHessian(G, mid_conv(G), z, distance="l2" if case == "hvp-l2" else "stlpips-alex", chunk=batch)
        v = torch.randn(1, *H.shape, generator=g).to(device)

        def run():
            H.reset()  # a fresh first-order graph each time: the cost of the first (or only) HVP
            return H.hvp(v)
        return run, wall
    if case == "invert":
        from steerlab.methods.trajectories.invert import invert
        with torch.no_grad():
            targets = G.synthesize(G.sample_z(batch, generator=g))
        stamps: list[float] = []

        def hook(step, *_):
            sync(device)
            stamps.append(time.perf_counter())

        def run():
            stamps.clear()
            invert(G, targets, steps=2, progress=False, on_step=hook)

        def one_step(run):  # between the hooks of steps 0 and 1: backward, Adam, projection, next forward
            run()
            return stamps[1] - stamps[0]
        return run, one_step
    if case == "ui":
        from steerlab.directions.combine import steer
        dirs = [Direction(kind="linear", space="w", model=G.name, fingerprint=G.fingerprint, edit=e,
                          alpha=alpha_spec(get_edit(e)),
                          tensors={"w": torch.nn.functional.normalize(torch.randn(k, G.w_dim, generator=g),
                                                                      dim=1).to(device)})
                for e, k in (("zoom", 1), ("color", 3))]
        knobs = [(dirs[0], 2.0), (dirs[1], [0.3, -0.1, 0.2])]
        fp = G.fingerprint

        def run():
            return steer(G, knobs, z, fingerprint=fp)
        return run, wall
    raise ValueError(f"unknown case {case!r}; allowed: {', '.join(CASES)}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+) kB", open("/proc/self/status").read()).group(1))


def peak_memory_mb(timed: Callable[[], float], device: torch.device) -> tuple[float, str, float]:
    """``(MiB, how it was read, seconds)``: the peak memory the first call of ``timed()`` adds over what the
    process holds just before it, and the seconds that call reports."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        seconds = timed()
        return (torch.cuda.max_memory_allocated(device) - before) / 2 ** 20, "cuda max_memory_allocated", seconds
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS to the current RSS
        before = _status_kb("VmRSS")
        seconds = timed()
        return (_status_kb("VmHWM") - before) / 1024, "VmHWM - VmRSS", seconds
    except OSError:
        before = _status_kb("VmRSS") if os.path.exists("/proc/self/status") else 0
        seconds = timed()
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, "ru_maxrss - RSS", seconds


def child(model: str, case: str, batch: int, device: str, repeats: int, threads: int) -> dict:
    """Measure one case in this (fresh) process; returns the JSON-able record."""
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    G = build(model).to(dev)
    run, timer = make_case(case, G, batch, dev)
    mem, how, first = peak_memory_mb(lambda: timer(run), dev)
    seconds = min([timer(run) for _ in range(repeats)] or [first])  # --repeats 0: the first call's time
    params = sum(p.numel() for p in G.parameters())
    return {"model": model, "case": case, "batch": batch, "seconds": seconds, "peak_mb": mem, "memory": how,
            "params_m": params / 1e6, "resolution": G.resolution, "device": device,
            "threads": torch.get_num_threads()}


# ------------------------------------------------------------------------------------------- table
def measure(model: str, case: str, batch: int, a) -> dict:
    cmd = [sys.executable, __file__, "--child", model, case, str(batch), "--device", a.device,
           "--repeats", str(a.repeats), "--threads", str(a.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"model": model, "case": case, "batch": batch, "error": tail}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # each row as soon as it is measured, also into a file
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="add StyleGAN2 config-f at 1024 px")
    p.add_argument("--models", nargs="+", choices=MODELS, help="measure only these models")
    p.add_argument("--cases", nargs="+", choices=CASES, default=[c for c in CASES if c != "hvp-l2"])
    p.add_argument("--batch", type=int, default=4, help="batch of the 256 px models")
    p.add_argument("--batch-1024", type=int, default=1, help="batch of the 1024 px model")
    p.add_argument("--repeats", type=int, default=1,
                   help="timed calls after the first (0: time the first call, the one memory is read from)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--flag", type=float, default=2.0, help="mark a case above this multiple of its floor's memory")
    p.add_argument("--json", help="also write the records to this file")
    p.add_argument("--child", nargs=3, metavar=("MODEL", "CASE", "BATCH"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        model, case, batch = a.child
        print(json.dumps(child(model, case, int(batch), a.device, a.repeats, a.threads)))
        return
    models = a.models or [m for m in MODELS if a.full or m != "sg2-1024"]
    cases = list(dict.fromkeys(["fwd", "fwd+bwd"] + a.cases))
    print(f"torch {torch.__version__}, device {a.device}, threads {a.threads or torch.get_num_threads()}, "
          f"repeats {a.repeats}; every case in a fresh process")
    records = []
    t_all = time.time()
    for model in models:
        batch = a.batch_1024 if model.endswith("1024") else a.batch
        plan = [(c, 1 if c == "ui" else batch) for c in cases]
        if "ui" in cases and batch != 1:
            plan.insert(plan.index(("ui", 1)), ("fwd", 1))  # the UI's floor, measured before it
        rec: dict = {}
        print(f"\n{model}: batch {batch} (ui: 1)")
        print(f"  {'case':<9} {'batch':>5} {'time s':>8} {'peak MiB':>9} {'time x':>7} {'memory x':>8}  vs")
        for case, b in plan:
            rec[(case, b)] = r = measure(model, case, b, a)
            records.append(r)
            if "error" in r:
                print(f"  {case:<9} {b:>5}  failed: {r['error']}")
                continue
            fl = rec.get((FLOOR.get(case, ""), b))
            if fl and "error" not in fl:
                tx, mx = r["seconds"] / fl["seconds"], r["peak_mb"] / max(fl["peak_mb"], 1e-9)
                r.update(time_ratio=tx, memory_ratio=mx, floor=FLOOR[case])
                mark = "  <-- over" if mx > a.flag else ""
                print(f"  {case:<9} {b:>5} {r['seconds']:8.2f} {r['peak_mb']:9.0f} {tx:7.2f} {mx:8.2f}  "
                      f"{FLOOR[case]}{mark}")
            else:
                print(f"  {case:<9} {b:>5} {r['seconds']:8.2f} {r['peak_mb']:9.0f} {'':>7} {'':>8}")
        head = next((r for r in rec.values() if "params_m" in r), {})
        print(f"  ({head.get('params_m', float('nan')):.1f} M parameters, {head.get('resolution', '?')} px, "
              f"memory by {head.get('memory', '?')})")
    print(f"\ntotal {time.time() - t_all:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
