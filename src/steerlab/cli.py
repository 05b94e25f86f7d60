"""Command line: `steerlab <command> --help`. Each command calls one function of `steerlab.api`.

Bad input (unknown names, values out of range, corrupted or foreign files) ends with one
line on stderr and exit code 2; nothing partial is written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


from . import __version__

EXIT_BAD_INPUT = 2


def _floats(text: str) -> list:
    """'0.5,1,2' -> [0.5, 1.0, 2.0]; colour triples as 'r:g:b', e.g. '0.3:0:0,-0.3:0:0'."""
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            vals = [float(v) for v in part.split(":")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number list: {text!r} (use e.g. 0.5,1,2 or 0.3:0:0)")
        out.append(vals[0] if len(vals) == 1 else vals)
    return out


def _ints(text: str) -> list[int]:
    try:
        if "-" in text and "," not in text and not text.startswith("-"):
            lo, hi = text.split("-")
            return list(range(int(lo), int(hi) + 1))
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a seed list: {text!r} (use e.g. 0,1,2 or 0-7)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="steerlab",
        description="Find, apply and measure steering directions in generative image models.",
        epilog="Examples:\n  steerlab walk --model faces --edit zoom --out runs/zoom\n"
               "  steerlab apply runs/zoom/direction.safetensors --seeds 0-3 --alphas 0.5,1,2\n"
               "  steerlab models\n  steerlab edits",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"steerlab {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("models", help="list the model zoo")
    sub.add_parser("edits", help="list the image edits with their alpha ranges")

    w = sub.add_parser("walk", help="learn a linear latent walk for an edit (Jahanian et al. Eq. 1)",
                       description="Learn w so that G(z + alpha_g w) matches edit(G(z), alpha_t); writes "
                                   "the direction, a strip, plots, metrics.json and report.html into --out.")
    w.add_argument("--model", required=True, help="zoo name (see `steerlab models`) or a generator .safetensors")
    w.add_argument("--edit", required=True, help="edit name (see `steerlab edits`)")
    w.add_argument("--space", default="z", help="latent space to walk in (default: z)")
    w.add_argument("--steps", type=int, default=1000, help="Adam steps (default: 1000)")
    w.add_argument("--batch-size", type=int, default=16, help="samples per step (default: 16)")
    w.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default: 0.01)")
    w.add_argument("--loss", default="l2", help="l2 (masked, default), blurred, dssim or perceptual")
    w.add_argument("--seed", type=int, default=0, help="seed for z, alpha and evaluation (default: 0)")
    w.add_argument("--out", help="run folder (default: runs/MODEL-EDIT)")
    w.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    w.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0 (default: cpu)")

    a = sub.add_parser("apply", help="render a direction over alphas as a PNG strip and a GIF")
    a.add_argument("direction", help="a direction .safetensors file")
    a.add_argument("--seeds", type=_ints, default=[0, 1, 2, 3], help="e.g. 0,1,2 or 0-7 (default: 0-3)")
    a.add_argument("--alphas", type=_floats, help="values in the direction's units, e.g. 0.5,1,2 "
                                                  "(colour: r:g:b triples); default: 7 across its range")
    a.add_argument("--model", help="model to use (default: the direction's own)")
    a.add_argument("--classes", type=_ints, help="class per seed for conditional models")
    a.add_argument("--out", help="output folder (default: runs/apply)")
    a.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    a.add_argument("--force", action="store_true", help="use a direction made for another model anyway")
    a.add_argument("--device", default="cpu")

    d = sub.add_parser("demo", help="learn zoom and colour walks on `faces` and write a report")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--steps", type=int, default=400, help="steps per walk (default: 400)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from ._io import FileFormatError
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, FileExistsError, FileFormatError, KeyError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        print(f"steerlab {args.command}: error: {msg.strip(chr(39))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("steerlab: interrupted; nothing partial was kept", file=sys.stderr)
        return 130


def _cmd_models(args) -> int:
    from .api import models
    rows = models()
    print(f"{'name':<12} {'res':>4}  {'spaces':<10} {'classes':>7}  {'licence':<8} source")
    for m in rows:
        print(f"{m['name']:<12} {m['resolution']:>4}  {'/'.join(m['latent_spaces']):<10} "
              f"{m['classes']:>7}  {m['licence']:<8} {m['source']}")
    return 0


def _cmd_edits(args) -> int:
    from .api import edits
    print(f"{'name':<11} {'alpha_t range':<16} {'alpha_g':<15} unit")
    for e in edits():
        rng = f"[{e['range'][0]:g}, {e['range'][1]:g}]" + (" x3" if e["components"] == 3 else "")
        print(f"{e['name']:<11} {rng:<16} {e['alpha_g']:<15} {e['unit']}")
    return 0


def _cmd_walk(args) -> int:
    from .api import walk
    run = walk(args.model, args.edit, space=args.space, steps=args.steps, batch_size=args.batch_size,
               lr=args.lr, loss=args.loss, seed=args.seed, out=args.out, overwrite=args.overwrite,
               device=args.device)
    m = run["metrics"]
    print(f"walk L2 {m['walk_l2_mean']:.4f} vs do-nothing {m['baseline_l2_mean']:.4f} (held-out, mean over alphas)")
    print(f"report: {Path(run['out']) / 'report.html'}")
    return 0


def _cmd_apply(args) -> int:
    from .api import apply
    out = args.out or "runs/apply"
    images = apply(args.direction, seeds=args.seeds, alphas=args.alphas, model=args.model,
                   classes=args.classes, out=out, overwrite=args.overwrite, force=args.force,
                   device=args.device)
    print(f"{images.shape[0]} x {images.shape[1]} images: {Path(out) / 'strip.png'}, {Path(out) / 'strip.gif'}")
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo
    index = run_demo(args.out, steps=args.steps)
    print(f"report: {index}")
    return 0


COMMANDS = {"models": _cmd_models, "edits": _cmd_edits, "walk": _cmd_walk, "apply": _cmd_apply,
            "demo": _cmd_demo}

if __name__ == "__main__":
    sys.exit(main())
