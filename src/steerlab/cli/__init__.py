"""Command line: `steerlab <command> --help`. Each command calls one function of `steerlab.jobs.walk`.

Bad input (unknown names, values out of range, corrupted or foreign files) ends with one
line on stderr and exit code 2; nothing partial is written.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


from steerlab._version import __version__

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

    w = sub.add_parser("walk", help="learn a latent walk for an edit (Jahanian et al. Eq. 1; --kind nonlinear: Eq. 2)",
                       description="Learn w so that G(z + alpha_g w) matches edit(G(z), alpha_t); writes "
                                   "the direction, a strip, plots, metrics.json and report.html into --out.")
    w.add_argument("--model", required=True, help="zoo name (see `steerlab models`) or a generator .safetensors")
    w.add_argument("--edit", required=True, help="edit name (see `steerlab edits`)")
    w.add_argument("--space", default="z", help="latent space to walk in (default: z)")
    w.add_argument("--steps", type=int, default=1000, help="Adam steps (default: 1000)")
    w.add_argument("--batch-size", type=int, default=16, help="samples per step (default: 16)")
    w.add_argument("--lr", type=float, help="Adam learning rate (default: 0.01 linear, 0.001 nonlinear)")
    w.add_argument("--kind", default="linear", choices=["linear", "nonlinear", "nn-linear"],
                   help="linear (Eq. 1, default), nonlinear (Euler steps f(z) = z + NN(z), Eq. 2) or "
                        "nn-linear (App. A.3's G(z + alpha NN(z)))")
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
    a.add_argument("--latent", help="a latent file (from `steerlab invert`) to edit instead of --seeds")
    a.add_argument("--out", help="output folder (default: runs/apply)")
    a.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    a.add_argument("--force", action="store_true", help="use a direction made for another model anyway")
    a.add_argument("--device", default="cpu")

    d = sub.add_parser("demo", help="learn zoom and colour walks on `faces` and write a report")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--steps", type=int, default=400, help="steps per walk (default: 400)")

    iv = sub.add_parser("invert", help="find latents for real images (Plumerault et al. Eq. 2-3)",
                        description="Adam on z inside ||z|| <= sqrt(d) to match each IMAGE (centre-cropped and "
                                    "resized to the model's resolution); writes latent.safetensors (for "
                                    "`steerlab apply DIR --latent`), reconstruction.png, loss.png, metrics.json.")
    iv.add_argument("images", nargs="+", metavar="IMAGE", help="image file(s) (PNG, JPEG, ...)")
    iv.add_argument("--model", required=True, help="zoo name or generator .safetensors")
    iv.add_argument("--loss", default="blurred", help="blurred (Eq. 3, default), mse or dssim")
    iv.add_argument("--sigma", type=float, default=3.0, help="blur sigma in pixels (default: 3)")
    iv.add_argument("--steps", type=int, default=1000, help="Adam steps (default: 1000)")
    iv.add_argument("--lr", type=float, default=0.1, help="Adam learning rate (default: 0.1)")
    iv.add_argument("--restarts", type=int, default=4, help="random starts per image, best kept (default: 4)")
    iv.add_argument("--batch-size", type=int, help="image-starts optimised together (default: all; under "
                                                   "torchrun all of each rank's share)")
    iv.add_argument("--classes", type=_ints, help="class per image for conditional models")
    iv.add_argument("--seed", type=int, default=0)
    iv.add_argument("--out", help="run folder (default: runs/invert)")
    iv.add_argument("--overwrite", action="store_true")
    iv.add_argument("--device", default="cpu")

    tj = sub.add_parser("trajectory", help="learn a factor direction t = g(<u, z>) from inverted "
                                           "trajectories (Plumerault et al. Alg. 1, Eq. 5, 9)",
                        description="Recursive inversions of edit(G(z0), dt) over [-T, T], the worst 10% "
                                    "discarded, then u and a monotone piecewise-linear g fitted; the direction's "
                                    "alpha is the factor value. Writes the direction, the trajectory dataset, a "
                                    "strip, the measured factor along u (sweep.png), metrics.json, report.html.")
    tj.add_argument("--model", required=True, help="zoo name or generator .safetensors")
    tj.add_argument("--edit", required=True, help="the transformation, e.g. shift_x, zoom, brightness")
    tj.add_argument("--trajectories", type=int, default=64, help="number of z0 (default: 64)")
    tj.add_argument("--T", type=float, help="largest dt in the edit's alpha_g units (default: half its range)")
    tj.add_argument("--n-steps", type=int, default=10, help="sub-problems per side (default: 10)")
    tj.add_argument("--steps-per-target", type=int, default=100, help="Adam steps per sub-problem (default: 100)")
    tj.add_argument("--lr", type=float, default=0.1)
    tj.add_argument("--loss", default="blurred", help="blurred (default), mse or dssim")
    tj.add_argument("--sigma", type=float, default=3.0)
    tj.add_argument("--measure", help="MEASURE:KEY read along u, e.g. saliency:x, face_box:width, pixels:x "
                                      "(default: saliency for geometric edits, colour otherwise)")
    tj.add_argument("--n-eval", type=int, default=32, help="held-out samples per s (default: 32)")
    tj.add_argument("--seed", type=int, default=0)
    tj.add_argument("--out", help="run folder (default: runs/MODEL-trajectory-EDIT)")
    tj.add_argument("--overwrite", action="store_true")
    tj.add_argument("--device", default="cpu")

    rp = sub.add_parser("reproduce", help="reproduce a paper experiment end to end (beta-vae)",
                        description="beta-vae: Plumerault et al. Fig. 5. Trains the App. B beta-VAE on procedural "
                                    "dSprites for each beta and training seed (quick protocol by default; --full for "
                                    "the paper's; --pretrained loads the bundled ones), finds the horizontal-position "
                                    "direction in each and writes metrics.json (std_per_beta, averaged over the "
                                    "seeds), fig5.png, strips.png and report.html.")
    rp.add_argument("experiment", help="experiment name: beta-vae, steerable-training (Jahanian Fig. 9), "
                                       "nonlinear-walks (Jahanian Fig. 7, App. A.3-A.4), "
                                       "bias (Jahanian Sec. 4.2, Fig. 6, Table 1)")
    rp.add_argument("--set", action="append", metavar="KEY=VALUE", dest="options",
                    help="steerable-training / nonlinear-walks: an option of the experiment, repeatable, "
                         "e.g. --set gan_steps=6000 --set edits=zoom,shift_x (unknown keys list the allowed)")
    rp.add_argument("--out", help="run folder (default: runs/EXPERIMENT)")
    rp.add_argument("--betas", default="1,5,10,20", help="comma-separated betas (default: 1,5,10,20)")
    rp.add_argument("--seeds", type=_ints, default=[0, 1, 2], help="beta-vae: training seeds per beta, e.g. 0,1 "
                                                                 "or 0-2; the std is averaged over them (default: "
                                                                 "0,1,2, the bundled ones)")
    rp.add_argument("--pretrained", action="store_true", help="use the bundled weights instead of training")
    rp.add_argument("--full", action="store_true", help="paper protocol: 1e5 steps of batch 128 (hours on a CPU)")
    rp.add_argument("--train-steps", type=int, default=2000, help="quick protocol steps (default: 2000)")
    rp.add_argument("--trajectories", type=int, default=32, help="number of z0 per beta (default: 32)")
    rp.add_argument("--steps-per-target", type=int, default=50, help="Adam steps per sub-problem (default: 50)")
    rp.add_argument("--n-eval", type=int, default=64, help="held-out samples per s (default: 64)")
    rp.add_argument("--seed", type=int, default=0,
                    help="seed of the trajectories and evaluation draws (default: 0)")
    rp.add_argument("--overwrite", action="store_true")
    rp.add_argument("--device", default="cpu")

    u = sub.add_parser("ui", help="the steering wheel: a web UI to drive a model with saved directions",
                       description="Serve a gradio app on 127.0.0.1: choose a model and a seed, tick "
                                   "directions found under --directions, move their sliders.")
    u.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    u.add_argument("--directions", action="append", help="folder searched for direction files "
                                                          "(repeatable; default: runs)")
    u.add_argument("--model", action="append", help="zoo name or generator .safetensors to offer "
                                                     "(repeatable; default: the whole zoo)")
    u.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, loopback only)")
    u.add_argument("--device", default="cpu")

    cs = sub.add_parser("compare-spaces", help="learn one photometric walk in several latent spaces and "
                                                "compare colour change vs structure kept",
                        description="Jahanian et al. Sec. 4.3: a colour walk in StyleGAN's W keeps structure "
                                    "better than in z. Learns the walk in each --spaces and writes directions, "
                                    "a side-by-side strip, metrics.json and report.html into --out.")
    cs.add_argument("--model", required=True, help="zoo name or generator .safetensors (with the spaces)")
    cs.add_argument("--edit", default="color", help="color (default) or brightness")
    cs.add_argument("--spaces", default="z,w", help="comma-separated latent spaces (default: z,w)")
    cs.add_argument("--steps", type=int, default=300, help="Adam steps per walk (default: 300)")
    cs.add_argument("--batch-size", type=int, default=16)
    cs.add_argument("--lr", type=float, default=0.01)
    cs.add_argument("--seed", type=int, default=0)
    cs.add_argument("--n-eval", type=int, default=32, help="held-out samples measured (default: 32)")
    cs.add_argument("--out", help="run folder (default: runs/MODEL-EDIT-spaces)")
    cs.add_argument("--overwrite", action="store_true")
    cs.add_argument("--device", default="cpu")
    tr = sub.add_parser("train", help="train a class-conditional DCGAN on a steerlab dataset (zoo file + card)",
                        description="Draws the dataset (seeded), trains with resumable checkpoints "
                                    "(rerun to continue) and writes OUT.safetensors + OUT.json with a model card "
                                    "(command, time, final FID with the feature network named).")
    tr.add_argument("dataset", help="dataset name (e.g. shapes)")
    tr.add_argument("--out", help="path stem of the generator file (default: runs/train/DATASET)")
    tr.add_argument("--images", type=int, default=20000, help="training images drawn (default: 20000)")
    tr.add_argument("--resolution", type=int, default=32, help="image side (default: 32)")
    tr.add_argument("--steps", type=int, default=2500, help="GAN steps (default: 2500)")
    tr.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    tr.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (default: 2e-4)")
    tr.add_argument("--width", type=int, default=32, help="DCGAN width (default: 32)")
    tr.add_argument("--z-dim", type=int, default=64, help="latent size (default: 64)")
    tr.add_argument("--ms-weight", type=float, default=1.0, help="mode-seeking term weight (default: 1)")
    tr.add_argument("--fid-images", type=int, default=2000, help="images for the card's FID (0: skip)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--device", default="cpu")

    ev = sub.add_parser("evaluate", help="quantify a direction's steerability over alpha (attribute "
                                         "distributions, intersection, FID, perceptual steps, per class)",
                        description="Jahanian et al. Sec. 3, Figs. 4, 5, 10, 11: writes metrics.json, plots, a strip "
                                    "and report.html into --out.")
    ev.add_argument("direction", help="a direction .safetensors file")
    ev.add_argument("--model", help="model (default: the direction's own)")
    ev.add_argument("--n", "--n-samples", dest="n", type=int, default=200,
                    help="held-out samples (default: 200; under torchrun write --n-samples, torchrun "
                         "takes --n for one of its own options)")
    ev.add_argument("--alphas", type=_floats, help="alpha grid in the direction's units (default: --n-alphas "
                                                   "evenly spaced over its range)")
    ev.add_argument("--n-alphas", type=int, default=9, help="grid size (default: 9)")
    ev.add_argument("--batch-size", type=int, default=50,
                    help="images per forward pass (default: 50); under torchrun ranks split whole batches")
    ev.add_argument("--measure", help="attribute measure: colour, box, face_box, object_colour, saliency "
                                      "(default: the edit's, as the model card maps it)")
    ev.add_argument("--key", help="attribute key of the measure (default: the edit's)")
    ev.add_argument("--features", help="FID feature network (default: the model card's, else stlpips-vgg)")
    ev.add_argument("--no-fid", action="store_true", help="skip FID/KID")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--out", help="run folder (default: runs/evaluate-MODEL-EDIT)")
    ev.add_argument("--overwrite", action="store_true")
    ev.add_argument("--force", action="store_true", help="use a direction made for another model anyway")
    ev.add_argument("--device", default="cpu")

    ly = sub.add_parser("layers", help="list the weights of a model that parameter-space directions may shift")
    ly.add_argument("--model", required=True, help="zoo name or generator .safetensors")
    ly.add_argument("--device", default="cpu")

    ds = sub.add_parser("discover", help="find directions in one layer's weights (Cherepkov et al.: svd, "
                                         "optimize, hessian, hybrid)",
                        description="Writes one weight direction per file (OUT/directions/kNN.safetensors), "
                                    "inspection grids, the analyses asked for, metrics.json and report.html.")
    ds.add_argument("--model", required=True, help="zoo name or generator .safetensors")
    ds.add_argument("--method", required=True, help="svd, optimize, hessian or hybrid")
    ds.add_argument("--layer", required=True, help="weight name (see `steerlab layers`)")
    ds.add_argument("--k", type=int, default=16, help="number of directions (default: 16)")
    ds.add_argument("--shift", type=float, help="fixed shift range T for all directions (default: "
                                                "calibrated per direction to --target)")
    ds.add_argument("--target", type=float, default=0.15,
                    help="mean ST-LPIPS change at +-T that calibrates T (default: 0.15)")
    ds.add_argument("--steps", type=int, default=1000, help="Eq. 1 training steps (optimize, hybrid; default: 1000)")
    ds.add_argument("--batch-size", type=int, default=16, help="Eq. 1 batch (default: 16)")
    ds.add_argument("--lr", type=float, default=1e-3, help="Eq. 1 Adam learning rate (default: 1e-3)")
    ds.add_argument("--n-z", type=int, default=8, help="z batch estimating the Hessian (default: 8)")
    ds.add_argument("--eigen", type=int, help="eigenvectors spanning the hybrid subspace (default: k)")
    ds.add_argument("--analyze", default="locality",
                    help="comma-separated analyses: locality, fid, mimic (default: locality; '' for none)")
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--out", help="run folder (default: runs/MODEL-METHOD-LAYER)")
    ds.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    ds.add_argument("--no-resume", action="store_true", help="ignore an interrupted run's checkpoint")
    ds.add_argument("--device", default="cpu")

    aw = sub.add_parser("analyze-weights", help="FID vs shift, locality heatmaps and the latent-mimic test "
                                                "for saved weight directions")
    aw.add_argument("directions", nargs="+", help="a `discover` run folder, or direction files")
    aw.add_argument("--what", default="locality,fid,mimic", help="comma-separated: locality, fid, mimic")
    aw.add_argument("--model", help="model to use (default: the directions' own)")
    aw.add_argument("--out", help="output folder (default: runs/analyze-weights)")
    aw.add_argument("--overwrite", action="store_true")
    aw.add_argument("--force", action="store_true", help="use directions made for another model anyway")
    aw.add_argument("--device", default="cpu")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from steerlab.core import distributed
    if distributed.launched():
        return _main_distributed(args)
    from steerlab.core.io import FileFormatError
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, FileExistsError, FileFormatError, KeyError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        print(f"steerlab {args.command}: error: {msg.strip(chr(39))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("steerlab: interrupted; nothing partial was kept", file=sys.stderr)
        return 130


def _main_distributed(args) -> int:
    """One rank of a torchrun job: any failure is one line and an immediate exit of this rank
    (torchrun then stops the others), never a traceback or a hang on a collective."""
    from steerlab.core import distributed
    from steerlab.core.io import FileFormatError
    if args.command not in DISTRIBUTED:
        print(f"steerlab {args.command}: error: runs in one process only; under torchrun use one of "
              f"{', '.join(sorted(DISTRIBUTED))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    distributed.stop_on_sigterm()
    try:
        if getattr(args, "device", None) is not None:
            args.device = distributed.init(args.device)
        else:
            distributed.init()
        if not distributed.is_main():  # one rank prints the results
            sys.stdout = open(os.devnull, "w")
        code = COMMANDS[args.command](args)
        distributed.finish()
        return code
    except (ValueError, FileNotFoundError, FileExistsError, FileFormatError, KeyError) as e:
        distributed.fail(args.command, e, EXIT_BAD_INPUT)
    except BaseException as e:  # noqa: BLE001  (a rank must not hang its peers, whatever went wrong)
        distributed.fail(args.command, e, 1)
    return 1


def _cmd_models(args) -> int:
    from steerlab.jobs.walk import models
    rows = models()
    nw = max([12] + [len(m["name"]) for m in rows])
    print(f"{'name':<{nw}} {'res':>4}  {'spaces':<10} {'classes':>7}  {'licence':<8} source")
    for m in rows:
        print(f"{m['name']:<{nw}} {m['resolution']:>4}  {'/'.join(m['latent_spaces']):<10} "
              f"{m['classes']:>7}  {m['licence']:<8} {m['source']}")
    return 0


def _cmd_edits(args) -> int:
    from steerlab.jobs.walk import edits
    print(f"{'name':<11} {'alpha_t range':<16} {'alpha_g':<15} unit")
    for e in edits():
        rng = f"[{e['range'][0]:g}, {e['range'][1]:g}]" + (" x3" if e["components"] == 3 else "")
        print(f"{e['name']:<11} {rng:<16} {e['alpha_g']:<15} {e['unit']}")
    return 0


def _cmd_walk(args) -> int:
    from steerlab.jobs.walk import walk
    run = walk(args.model, args.edit, space=args.space, steps=args.steps, batch_size=args.batch_size,
               lr=args.lr, loss=args.loss, seed=args.seed, out=args.out, overwrite=args.overwrite,
               device=args.device, kind=args.kind)
    m = run["metrics"]
    print(f"walk L2 {m['walk_l2_mean']:.4f} vs do-nothing {m['baseline_l2_mean']:.4f} (held-out, mean over alphas)")
    print(f"report: {Path(run['out']) / 'report.html'}")
    return 0


def _cmd_apply(args) -> int:
    from steerlab.jobs.walk import apply
    out = args.out or "runs/apply"
    latent = classes = None
    if args.latent:
        from steerlab.directions import Direction
        from steerlab.models import load_model
        from steerlab.jobs.invert import load_latent
        d = Direction.load(args.direction)
        G = load_model(args.model or d.model, device=args.device)
        latent, classes, _ = load_latent(args.latent, G, force=args.force)
        args.model = G
    images = apply(args.direction, seeds=args.seeds, alphas=args.alphas, model=args.model,
                   classes=args.classes if classes is None else classes.tolist(), latent=latent, out=out,
                   overwrite=args.overwrite, force=args.force, device=args.device)
    print(f"{images.shape[0]} x {images.shape[1]} images: {Path(out) / 'strip.png'}, {Path(out) / 'strip.gif'}")
    return 0


def _cmd_demo(args) -> int:
    from steerlab.jobs.demo import run_demo
    index = run_demo(args.out, steps=args.steps)
    print(f"report: {index}")
    return 0


def _cmd_compare_spaces(args) -> int:
    from steerlab.jobs.compare_spaces import compare_spaces_run
    run = compare_spaces_run(args.model, args.edit, spaces=[s.strip() for s in args.spaces.split(",") if s.strip()],
                             steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                             n_eval=args.n_eval, out=args.out, overwrite=args.overwrite, device=args.device)
    for space, m in run["metrics"].items():
        print(f"{space:>3}: colour gain {m['colour_gain_mean']:.3f}, edge distance {m['edge_distance_mean']:.4f}, "
              f"ST-LPIPS {m['lpips_distance_mean']:.4f} (target edit: edge {m['target_edge_distance_mean']:.4f}); "
              f"edge distance at colour gain {m['matched_colour_gain']:.2f}: {m['matched_edge_distance']:.4f}")
    print(f"report: {Path(run['out']) / 'report.html'}")
    return 0


def _cmd_ui(args) -> int:
    from steerlab.ui import launch
    folders = args.directions or (["runs"] if Path("runs").is_dir() else [])
    launch(args.model, folders, port=args.port, host=args.host, device=args.device)
    return 0


def _cmd_invert(args) -> int:
    from steerlab.jobs.invert import invert_images
    run = invert_images(args.images, args.model, loss=args.loss, sigma=args.sigma, steps=args.steps, lr=args.lr,
                        restarts=args.restarts, seed=args.seed, classes=args.classes,
                        out=args.out or "runs/invert", overwrite=args.overwrite, device=args.device,
                        batch_size=args.batch_size)
    m = run["metrics"]
    for name, loss, mse in zip(m["images"], m["final_loss"], m["mse"]):
        print(f"{name}: {m['loss']} loss {loss:.5f}, MSE {mse:.5f}")
    print(f"latent: {run['latent']}  (edit it: steerlab apply DIRECTION --latent {run['latent']})")
    return 0


def _cmd_trajectory(args) -> int:
    from steerlab.jobs.invert import trajectory
    run = trajectory(args.model, args.edit, n_trajectories=args.trajectories, T=args.T, n_steps=args.n_steps,
                     steps_per_target=args.steps_per_target, lr=args.lr, loss=args.loss, sigma=args.sigma,
                     measure=args.measure, n_eval=args.n_eval, seed=args.seed, out=args.out,
                     overwrite=args.overwrite, device=args.device)
    m = run["metrics"]
    lo, hi = m["alpha_range"]
    print(f"factor range [{lo:.3f}, {hi:.3f}]; {m['measure']} along u: mean std {m['sweep']['std_mean']:.4f}, "
          f"Spearman per sample {m['sweep']['spearman_per_sample']:.3f} (of the means "
          f"{m['sweep']['spearman_mean']:.3f}, pooled {m['sweep']['spearman_all']:.3f}), rising in "
          f"{m['sweep']['positive_fraction']:.0%} of samples; fit R^2 {m['fit_r2']:.3f}, "
          f"on held-out trajectories {m['heldout_r2']:.3f}")
    print(f"report: {Path(run['out']) / 'report.html'}")
    return 0


def _cmd_reproduce(args) -> int:
    from steerlab.reproduce import get_reproduction
    from steerlab.reproduce.options import GENERIC, parse_options
    fn = get_reproduction(args.experiment)
    if args.experiment in GENERIC:  # configured by --set KEY=VALUE (the function's own options)
        run = fn(args.out or f"runs/{args.experiment}", overwrite=args.overwrite, device=args.device,
                 seed=args.seed, **parse_options(fn, args.options))
        print(run.get("summary", f"metrics: {Path(run['out']) / 'metrics.json'}"))
        print(f"report: {Path(run['out']) / 'report.html'}")
        return 0
    try:
        betas = [float(b) for b in args.betas.split(",")]
    except ValueError:
        raise ValueError(f"--betas must be numbers, e.g. 1,5,10,20 (got {args.betas!r})") from None
    seeds = args.seeds
    run = fn(args.out or f"runs/{args.experiment}", betas=betas, seeds=seeds, pretrained=args.pretrained,
             full=args.full, train_steps=args.train_steps, n_trajectories=args.trajectories,
             steps_per_target=args.steps_per_target, n_eval=args.n_eval, seed=args.seed,
             overwrite=args.overwrite, device=args.device)
    m = run["metrics"]
    print(f"std of the controlled position per beta (mean over seeds {','.join(map(str, seeds))}): " +
          ", ".join(f"beta {k}: {v:.4f}" for k, v in m["std_per_beta"].items()))
    for k in seeds:
        print(f"  seed {k}: " + ", ".join(f"beta {b}: {v[str(k)]:.4f}" for b, v in m["std_per_beta_per_seed"].items()))
    print(f"  over {m['trend']['models']} models: Spearman(beta, std) {m['trend']['spearman_beta_std']:.3f} "
          f"(one-sided p {m['trend']['p_one_sided']:.3g}); Spearman(x code linearity, std) "
          f"{m['trend']['spearman_code_linearity_std']:.3f} (p {m['trend']['p_code_one_sided']:.3g})")
    print(f"report: {Path(run['out']) / 'report.html'}")
    return 0


def _cmd_train(args) -> int:
    from steerlab.training.dataset_gan import train_dataset_gan
    out = args.out or f"runs/train/{args.dataset}"
    G = train_dataset_gan(args.dataset, out, n_images=args.images, resolution=args.resolution, steps=args.steps,
                          batch_size=args.batch_size, lr=args.lr, width=args.width, z_dim=args.z_dim,
                          ms_weight=args.ms_weight, seed=args.seed, fid_images=args.fid_images, device=args.device)
    fid = G.card.get("fid")
    if fid:
        print(f"FID {fid['fid']:.3f} ({fid['feature_network']} features, {fid['n_fake']} images)")
    print(f"model: {out}.safetensors")
    return 0


def _cmd_evaluate(args) -> int:
    from steerlab.report.steerability import attribute_sentence, evaluate
    run = evaluate(args.direction, model=args.model, out=args.out, n=args.n, n_alphas=args.n_alphas,
                   alphas=args.alphas, measure=args.measure, key=args.key, fid_features=args.features,
                   fid=not args.no_fid, seed=args.seed, overwrite=args.overwrite, force=args.force,
                   device=args.device, batch_size=args.batch_size)
    m, s = run["metrics"], run["metrics"]["summary"]
    print(f"{m['primary']} ({m['measure']}) {attribute_sentence(s)}")
    if m["fid"]:
        print(f"FID ({m['feature_network']}) per alpha: " + ", ".join(f"{v:.2f}" for v in m["fid"]))
    print(f"report: {Path(run['out']) / 'report.html'}")
    return 0


COMMANDS = {"models": _cmd_models, "edits": _cmd_edits, "walk": _cmd_walk, "apply": _cmd_apply,
            "demo": _cmd_demo, "ui": _cmd_ui, "compare-spaces": _cmd_compare_spaces,
            "invert": _cmd_invert, "trajectory": _cmd_trajectory, "reproduce": _cmd_reproduce,
            "train": _cmd_train, "evaluate": _cmd_evaluate}


def _cmd_layers(args) -> int:
    from steerlab.jobs.discover import layers
    rows = layers(args.model, device=args.device)
    w = max([4] + [len(r["name"]) for r in rows])
    print(f"{'name':<{w}} {'kind':<6} {'shape':<18} {'params':>9}  {'SVD matrix':<12} {'sigmas':>6}")
    for r in rows:
        print(f"{r['name']:<{w}} {r['kind']:<6} {'x'.join(map(str, r['shape'])):<18} {r['params']:>9}  "
              f"{'x'.join(map(str, r['matrix'])):<12} {r['singular_values']:>6}")
    return 0


def _cmd_discover(args) -> int:
    from steerlab.jobs.discover import discover
    run = discover(args.model, args.method, args.layer, k=args.k, out=args.out, overwrite=args.overwrite,
                   limit=args.shift, target=args.target, steps=args.steps, batch_size=args.batch_size,
                   lr=args.lr, n_z=args.n_z, eigen=args.eigen, seed=args.seed,
                   analyze=[a for a in args.analyze.split(",") if a.strip()], device=args.device,
                   resume=not args.no_resume)
    m = run["metrics"]
    print(f"{len(run['directions'])} {m['method']} directions in {m['layer']} ({m['seconds']} s): "
          f"{Path(run['out']) / 'directions'}")
    print(f"report: {Path(run['out']) / 'report.html'}")
    return 0


def _cmd_analyze_weights(args) -> int:
    from steerlab.jobs.discover import analyze
    src = args.directions[0] if len(args.directions) == 1 else args.directions
    run = analyze(src, what=[a for a in args.what.split(",") if a.strip()], out=args.out,
                  overwrite=args.overwrite, model=args.model, force=args.force, device=args.device)
    print(f"report: {Path(run['out']) / 'report.html'}")
    return 0


COMMANDS.update({"layers": _cmd_layers, "discover": _cmd_discover, "analyze-weights": _cmd_analyze_weights})
# Commands that run data-parallel under torchrun (steerlab.core.distributed); the others refuse to.
DISTRIBUTED = {"walk", "evaluate", "invert", "discover"}

if __name__ == "__main__":
    sys.exit(main())
