"""The built-in commands, one class each; every one calls one job of `steerlab.jobs`.

Imports of the jobs happen inside ``run``, so ``steerlab --help`` stays fast.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from steerlab.cli.base import Command, class_list, count, floats, hidden_alias, ints, names, number, register_command
from steerlab.core.checks import MAX_BATCH, MAX_COUNT, MAX_IMAGES, MAX_STEPS, MAX_Z_DIM
from steerlab.methods import METHODS  # light: registers the methods' configs, loads none of their code
from steerlab.reproduce import REPRODUCTIONS  # light: names only, each experiment's module loads when it runs


def _family(family: str) -> list[str]:
    """Names of the registered methods of a family ("walk", "weight", ...), a plugin's included."""
    return [m.name for m in METHODS.values() if m.family == family]


@register_command
class Models(Command):
    name, help = "models", "list the model zoo, or with --scan DIR the checkpoints found in a folder"

    def add_arguments(self, p) -> None:
        p.add_argument("--scan", metavar="DIR", help="list the checkpoints under DIR (steerlab .safetensors, NVlabs "
                                                     ".pkl, rosinality .pt, BigGAN folders) with their facts")

    def run(self, args) -> int:
        from steerlab.jobs.catalog import list_models, scan_models
        if args.scan:
            found = scan_models(args.scan)
            print(f"{'path (in ' + args.scan + ')':<40} {'format':<14} {'architecture':<28} {'res':>4}  {'spaces':<10} classes")
            for m in found:
                rel = str(Path(m["path"]).relative_to(args.scan))
                if m["error"]:
                    print(f"{rel:<40} {m['format']:<14} not loadable: {m['error']}")
                    continue
                print(f"{rel:<40} {m['format']:<14} {m['architecture']:<28} {m['resolution']:>4}  "
                      f"{'/'.join(m['latent_spaces']):<10} {m['classes']}")
            print(f"{len(found)} checkpoint(s) in {args.scan}")
            return 0
        rows = list_models()
        nw = max([12] + [len(m["name"]) for m in rows])
        print(f"{'name':<{nw}} {'res':>4}  {'spaces':<10} {'classes':>7}  {'licence':<8} source")
        for m in rows:
            print(f"{m['name']:<{nw}} {m['resolution']:>4}  {'/'.join(m['latent_spaces']):<10} "
                  f"{m['classes']:>7}  {m['licence']:<8} {m['source']}")
        return 0


@register_command
class Edits(Command):
    name, help = "edits", "list the image edits with their alpha ranges"

    def run(self, args) -> int:
        from steerlab.jobs.catalog import list_edits
        print(f"{'name':<11} {'alpha_t range':<16} {'alpha_g':<15} unit")
        for e in list_edits():
            rng = f"[{e['range'][0]:g}, {e['range'][1]:g}]" + (" x3" if e["components"] == 3 else "")
            print(f"{e['name']:<11} {rng:<16} {e['alpha_g']:<15} {e['unit']}")
        return 0


@register_command
class Walk(Command):
    name = "walk"
    help = "learn a latent walk for an edit (Jahanian et al. Eq. 1; --kind nonlinear: Eq. 2)"
    description = ("Learn w so that G(z + alpha_g w) matches edit(G(z), alpha_t); writes the direction, a strip, "
                   "plots, metrics.json and report.html into --out.")
    shared, model_required, out_default, distributed = ("model", "seed", "out", "overwrite", "device", "truncation"), \
        True, "runs/walk-MODEL-EDIT-N, the first N free", True
    shared += ("resume", "checkpoint_every")
    checkpoint_every = 50

    def add_arguments(self, p) -> None:
        p.add_argument("--edit", required=True, help="edit name (see `steerlab edits`)")
        p.add_argument("--space", default="z", help="latent space to walk in (default: z)")
        p.add_argument("--steps", type=count(1, MAX_STEPS), default=1000, help="Adam steps (default: 1000)")
        p.add_argument("--batch-size", type=count(1, MAX_BATCH), default=16, help="samples per step (default: 16)")
        p.add_argument("--lr", type=number(0, 100), help="Adam learning rate (default: 0.01 linear, 0.001 nonlinear)")
        p.add_argument("--kind", default="linear", choices=_family("walk"),
                       help="the walk: linear (Eq. 1, default), nonlinear (Euler steps f(z) = z + NN(z), Eq. 2), "
                            "nn-linear (App. A.3's G(z + alpha NN(z))), or one a plugin registered")
        p.add_argument("--loss", default="l2", help="l2 (masked, default), blurred, dssim, perceptual or edges (l2 + Sobel gradients)")

    def run(self, args) -> int:
        from steerlab.jobs.walk import walk, walk_verdict
        run = walk(args.model, args.edit, space=args.space, steps=args.steps, batch_size=args.batch_size,
                   lr=args.lr, loss=args.loss, seed=args.seed, out=args.out, overwrite=args.overwrite,
                   device=args.device, kind=args.kind, truncation=args.truncation,
                   truncation_cutoff=args.truncation_cutoff, resume=args.resume,
                   checkpoint_every=args.checkpoint_every)
        m = run["metrics"]
        print(f"walk L2 {m['walk_l2_mean']:.4f} vs do-nothing {m['baseline_l2_mean']:.4f} "
              "(held-out, mean over alphas)")
        print(walk_verdict(m))
        print(f"report: {Path(run['out']) / 'report.html'}")
        return 0


@register_command
class Apply(Command):
    name, help = "apply", "render a direction over alphas as a PNG strip and a GIF"
    shared, out_default = ("model", "out", "overwrite", "force", "device", "truncation", "layers"), \
        "runs/apply-MODEL-EDIT-N, the first N free"

    def add_arguments(self, p) -> None:
        p.add_argument("direction", help="a direction .safetensors file, or a run folder holding one (runs/zoom)")
        p.add_argument("--seeds", type=ints, default=[0, 1, 2, 3], help="sample seeds, e.g. 0,1,2 or 0-7 (default: 0-3)")
        p.add_argument("--alphas", type=floats, help="values in the direction's units, e.g. -0.3,0,0.3 or 0.5,1,2 "
                                                     "(colour: r:g:b triples); default: 7 across its range")
        p.add_argument("--classes", type=class_list, metavar="C,C",
                       help="conditional models: class numbers or the model card's names (e.g. 5,6 or disc,ring); "
                            "every seed is drawn in every class given (one row each), so one class applies to "
                            "all seeds (default: seed mod classes, or the latent file's)")
        p.add_argument("--latent", help="a latent file (from `steerlab invert`) to edit instead of --seeds")

    def run(self, args) -> int:
        from steerlab.core.runs import fresh_folder
        from steerlab.directions import Direction
        from steerlab.jobs.apply import apply
        d = Direction.load(args.direction)
        out = args.out or fresh_folder("apply", Path(args.model).stem if args.model else d.model, d.edit or d.kind)
        images = apply(d, seeds=args.seeds, alphas=args.alphas, model=args.model,
                       classes=args.classes, latent=args.latent, out=out, overwrite=args.overwrite,
                       force=args.force, device=args.device, truncation=args.truncation,
                       truncation_cutoff=args.truncation_cutoff, layers=args.layers)
        print(f"{images.shape[0]} x {images.shape[1]} images (rows x alphas): {Path(out) / 'strip.png'}, {Path(out) / 'strip.gif'}")
        return 0


@register_command
class Evaluate(Command):
    name = "evaluate"
    help = ("quantify a direction's steerability over alpha (attribute distributions, intersection, FID, "
            "perceptual steps, per class)")
    description = ("Jahanian et al. Sec. 3, Figs. 4, 5, 10, 11: writes metrics.json, plots, a strip and "
                   "report.html into --out.")
    shared, out_default, distributed = ("model", "seed", "out", "overwrite", "force", "device", "truncation", \
                                         "layers"), "runs/evaluate-MODEL-EDIT-N, the first N free", True
    shared += ("resume", "checkpoint_every")
    checkpoint_every = 1

    def add_arguments(self, p) -> None:
        p.add_argument("direction", help="a direction .safetensors file")
        n = p.add_argument("--n-samples", dest="n", metavar="N", type=count(1, MAX_COUNT), default=200,
                           help="held-out samples (default: 200)")
        hidden_alias(p, n, "--n")
        p.add_argument("--alphas", type=floats, help="alpha grid in the direction's units (default: --n-alphas "
                                                     "evenly spaced over its range)")
        p.add_argument("--n-alphas", type=count(2, 1000), default=9, help="grid size (default: 9)")
        p.add_argument("--batch-size", type=count(1, MAX_BATCH), default=50,
                       help="images per forward pass (default: 50); under torchrun ranks split whole batches")
        p.add_argument("--measure", help="attribute measure: colour, box, face_box, object_colour, saliency "
                                         "(default: the edit's, as the model card maps it)")
        p.add_argument("--key", help="attribute key of the measure (default: the edit's)")
        p.add_argument("--features", help="FID feature network (default: the model card's, else stlpips-vgg)")
        p.add_argument("--no-fid", action="store_true", help="skip FID/KID")

    def run(self, args) -> int:
        from steerlab.jobs.evaluate import attribute_sentence, evaluate
        run = evaluate(args.direction, model=args.model, out=args.out, n=args.n, n_alphas=args.n_alphas,
                       alphas=args.alphas, measure=args.measure, key=args.key, fid_features=args.features,
                       fid=not args.no_fid, seed=args.seed, overwrite=args.overwrite, force=args.force,
                       device=args.device, batch_size=args.batch_size, truncation=args.truncation,
                       truncation_cutoff=args.truncation_cutoff,
                       layers=args.layers, resume=args.resume, checkpoint_every=args.checkpoint_every)
        m, s = run["metrics"], run["metrics"]["summary"]
        print(f"{m['primary']} ({m['measure']}) {attribute_sentence(s)}")
        if m["fid"]:
            print(f"FID ({m['feature_network']}) per alpha: " + ", ".join(f"{v:.2f}" for v in m["fid"]))
        if m.get("target_l2"):
            from steerlab.jobs.walk import walk_verdict
            print(walk_verdict(m["target_l2"]))
        print(f"report: {Path(run['out']) / 'report.html'}")
        return 0


@register_command
class Demo(Command):
    name, help = "demo", "learn zoom and colour walks on `faces` and write a report"
    shared, out_default = ("out",), "runs/demo"

    def add_arguments(self, p) -> None:
        p.add_argument("--steps", type=count(1, MAX_STEPS), default=400, help="steps per walk (default: 400)")

    def run(self, args) -> int:
        from steerlab.jobs.demo import run_demo
        print(f"report: {run_demo(args.out or self.out_default, steps=args.steps)}")
        return 0


@register_command
class Invert(Command):
    name, help = "invert", "find latents for real images (Plumerault et al. Eq. 2-3)"
    description = ("Adam on z inside ||z|| <= sqrt(d) (or on w / w+ with --space) to match each IMAGE "
                   "(centre-cropped and resized to the model's resolution); writes latent.safetensors "
                   "(for `steerlab apply DIR --latent`), reconstruction.png, loss.png, metrics.json.")
    shared, model_required, out_default, distributed = ("model", "seed", "out", "overwrite", "device", "truncation"), \
        True, "runs/invert-MODEL-N, the first N free", True
    shared += ("resume", "checkpoint_every")
    checkpoint_every = 50

    def add_arguments(self, p) -> None:
        p.add_argument("images", nargs="+", metavar="IMAGE", help="image file(s) (PNG, JPEG, ...)")
        p.add_argument("--loss", default="blurred", help="blurred (Eq. 3, default), mse or dssim")
        p.add_argument("--sigma", type=number(0, 1000), default=3.0, help="blur sigma in pixels (default: 3)")
        p.add_argument("--steps", type=count(1, MAX_STEPS), default=1000, help="Adam steps (default: 1000)")
        p.add_argument("--lr", type=number(0, 100), default=0.1, help="Adam learning rate (default: 0.1)")
        p.add_argument("--restarts", type=count(1, 1000), default=4, help="random starts per image, best kept (default: 4)")
        p.add_argument("--batch-size", type=count(1, MAX_BATCH), help="image-starts optimised together (default: all; under "
                                                      "torchrun all of each rank's share)")
        p.add_argument("--classes", type=class_list, metavar="C,C",
                       help="conditional models: the class of each image, or one for all, as numbers or the model "
                            "card's names (e.g. 5 or disc,ring)")
        p.add_argument("--space", default="z", help="latent space to invert into: z (default), or w / w+ for "
                                                    "StyleGAN models (w+ reconstructs best)")

    def run(self, args) -> int:
        from steerlab.core.runs import fresh_folder
        from steerlab.jobs.invert import invert_images
        run = invert_images(args.images, args.model, loss=args.loss, sigma=args.sigma, steps=args.steps,
                            lr=args.lr, restarts=args.restarts, seed=args.seed, classes=args.classes,
                            out=args.out or fresh_folder("invert", Path(args.model).stem, resume=args.resume),
                            overwrite=args.overwrite,
                            device=args.device,
                            batch_size=args.batch_size, truncation=args.truncation,
                            truncation_cutoff=args.truncation_cutoff, resume=args.resume,
                            checkpoint_every=args.checkpoint_every, space=args.space)
        m = run["metrics"]
        for name, loss, mse in zip(m["images"], m["final_loss"], m["mse"]):
            print(f"{name}: {m['loss']} loss {loss:.5f}, MSE {mse:.5f}")
        print(f"latent: {run['latent']}  (edit it: steerlab apply DIRECTION --latent {run['latent']})")
        return 0


@register_command
class Trajectory(Command):
    name = "trajectory"
    help = ("learn a factor direction t = g(<u, z>) from inverted trajectories (Plumerault et al. Alg. 1, "
            "Eq. 5, 9)")
    description = ("Recursive inversions of edit(G(z0), dt) over [-T, T], the worst 10% discarded, then u and a "
                   "monotone piecewise-linear g fitted; the direction's alpha is the factor value. Writes the "
                   "direction, the trajectory dataset, a strip, the measured factor along u (sweep.png), "
                   "metrics.json, report.html.")
    shared, model_required, out_default = ("model", "seed", "out", "overwrite", "device", "truncation"), True, \
        "runs/trajectory-MODEL-EDIT-N, the first N free"
    shared += ("resume", "checkpoint_every")
    checkpoint_every = 1

    def add_arguments(self, p) -> None:
        p.add_argument("--edit", required=True, help="the transformation, e.g. shift_x, zoom, brightness")
        p.add_argument("--trajectories", type=count(1, MAX_COUNT), default=64, help="number of z0 (default: 64)")
        p.add_argument("--T", type=number(0, 1e6), help="largest dt in the edit's alpha_g units (default: half its range)")
        p.add_argument("--n-steps", type=count(1, 1000), default=10, help="sub-problems per side (default: 10)")
        p.add_argument("--steps-per-target", type=count(1, MAX_STEPS), default=100,
                       help="Adam steps per sub-problem (default: 100)")
        p.add_argument("--lr", type=number(0, 100), default=0.1, help="Adam learning rate of each inversion (default: 0.1)")
        p.add_argument("--loss", default="blurred", help="blurred (default), mse or dssim")
        p.add_argument("--sigma", type=number(0, 1000), default=3.0, help="blur sigma in pixels of the blurred loss "
                                                                "(default: 3)")
        p.add_argument("--measure", help="MEASURE:KEY read along u, e.g. saliency:x, face_box:width, pixels:x "
                                         "(default: saliency for geometric edits, colour otherwise)")
        n = p.add_argument("--n-samples", dest="n_eval", metavar="N", type=count(1, MAX_COUNT), default=32,
                           help="held-out samples per s (default: 32)")
        hidden_alias(p, n, "--n-eval")

    def run(self, args) -> int:
        from steerlab.jobs.trajectory import trajectory
        run = trajectory(args.model, args.edit, n_trajectories=args.trajectories, T=args.T, n_steps=args.n_steps,
                         steps_per_target=args.steps_per_target, lr=args.lr, loss=args.loss, sigma=args.sigma,
                         measure=args.measure, n_eval=args.n_eval, seed=args.seed, out=args.out,
                         overwrite=args.overwrite, device=args.device, truncation=args.truncation,
                         truncation_cutoff=args.truncation_cutoff,
                         resume=args.resume, checkpoint_every=args.checkpoint_every)
        m, sw = run["metrics"], run["metrics"]["sweep"]
        lo, hi = m["alpha_range"]
        print(f"factor range [{lo:.3f}, {hi:.3f}]; {m['measure']} along u: mean std {sw['std_mean']:.4f}, "
              f"Spearman per sample {sw['spearman_per_sample']:.3f} (of the means {sw['spearman_mean']:.3f}, "
              f"pooled {sw['spearman_all']:.3f}), rising in {sw['positive_fraction']:.0%} of samples; "
              f"fit R^2 {m['fit_r2']:.3f}, on held-out trajectories {m['heldout_r2']:.3f}")
        print(f"report: {Path(run['out']) / 'report.html'}")
        return 0


@register_command
class Reproduce(Command):
    name = "reproduce"

    @property
    def help(self) -> str:  # type: ignore[override]  (read when the parser is built: plugins' experiments too)
        return f"reproduce a paper experiment end to end: {', '.join(REPRODUCTIONS)}"
    description = ("beta-vae: Plumerault et al. Fig. 5. Trains the App. B beta-VAE on procedural dSprites for each "
                   "beta and training seed (quick protocol by default; --full for the paper's; --pretrained loads "
                   "the bundled ones), finds the horizontal-position direction in each and writes metrics.json "
                   "(std_per_beta, averaged over the seeds), fig5.png, strips.png and report.html.\n"
                   "steerable-training: Jahanian Fig. 9; nonlinear-walks: Jahanian Fig. 7, App. A.3-A.4; "
                   "bias: Jahanian Sec. 4.2, Fig. 6, Table 1 (configured with --set KEY=VALUE).")
    shared, out_default = ("seed", "out", "overwrite", "device"), "runs/reproduce-EXPERIMENT-N, the first N free"
    shared += ("resume", "checkpoint_every")
    checkpoint_every = 50

    def add_arguments(self, p) -> None:
        p.add_argument("experiment", help=f"experiment name: {', '.join(REPRODUCTIONS)} (beta-vae: Plumerault "
                                          "Fig. 5; steerable-training: Jahanian Fig. 9; nonlinear-walks: Jahanian "
                                          "Fig. 7, App. A.3-A.4; bias: Jahanian Sec. 4.2, Fig. 6, Table 1)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="options",
                       help="steerable-training / nonlinear-walks / bias: an option of the experiment, repeatable, "
                            "e.g. --set gan_steps=6000 --set edits=zoom,shift_x (unknown keys list the allowed)")
        p.add_argument("--betas", default="1,5,10,20", help="beta-vae: comma-separated betas (default: 1,5,10,20)")
        seeds = p.add_argument("--train-seeds", dest="seeds", type=ints, default=[0, 1, 2],
                               help="beta-vae: training seeds per beta, e.g. 0,1 or 0-2; the std is averaged over "
                                    "them (default: 0,1,2, the bundled ones)")
        hidden_alias(p, seeds, "--seeds")
        p.add_argument("--pretrained", action="store_true", help="beta-vae: use the bundled weights instead of "
                                                                 "training")
        p.add_argument("--full", action="store_true", help="beta-vae: paper protocol, 1e5 steps of batch 128 "
                                                           "(hours on a CPU)")
        steps = p.add_argument("--steps", dest="train_steps", type=count(1, MAX_STEPS), default=2000, metavar="STEPS",
                               help="beta-vae: training steps of the quick protocol (default: 2000)")
        hidden_alias(p, steps, "--train-steps")
        p.add_argument("--trajectories", type=count(1, MAX_COUNT), default=32, help="beta-vae: number of z0 per beta (default: 32)")
        p.add_argument("--steps-per-target", type=count(1, MAX_STEPS), default=50,
                       help="beta-vae: Adam steps per sub-problem (default: 50)")
        n = p.add_argument("--n-samples", dest="n_eval", metavar="N", type=count(1, MAX_COUNT), default=64,
                           help="beta-vae: held-out samples per s (default: 64)")
        hidden_alias(p, n, "--n-eval")

    def run(self, args) -> int:
        from steerlab.jobs.reproduce import reproduce
        run = reproduce(args.experiment, args.out, options=args.options, betas=args.betas, seeds=args.seeds,
                        pretrained=args.pretrained, full=args.full, train_steps=args.train_steps,
                        n_trajectories=args.trajectories, steps_per_target=args.steps_per_target,
                        n_eval=args.n_eval, seed=args.seed, overwrite=args.overwrite, device=args.device,
                        resume=args.resume, checkpoint_every=args.checkpoint_every)
        print(run["summary"])
        print(f"report: {Path(run['out']) / 'report.html'}")
        return 0


@register_command
class UI(Command):
    name, help = "ui", "the steering wheel: a web UI to drive a model with saved directions"
    description = ("Serve a gradio app on 127.0.0.1: choose a model and a seed, tick directions found under "
                   "--directions, move their sliders.")
    shared = ("device",)

    def add_arguments(self, p) -> None:
        p.add_argument("--port", type=count(1, 65535), default=7860, help="port (default: 7860)")
        p.add_argument("--directions", action="append", help="folder searched for direction files "
                                                             "(repeatable; default: runs)")
        p.add_argument("--model", action="append", help="zoo name or generator .safetensors to offer "
                                                        "(repeatable; default: the whole zoo); the page opens on the "
                                                        "one most direction files are for")
        p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, loopback only; "
                                                           "another one needs --allow-remote)")
        p.add_argument("--allow-remote", action="store_true",
                       help="allow a --host other than loopback, which exposes the models and the file upload to "
                            "the network (a warning is printed; use --auth too)")
        p.add_argument("--auth", metavar="USER:PASSWORD", help="ask for this user name and password (gradio's "
                                                               "login page) before serving anything")

    def run(self, args) -> int:
        import sys

        from steerlab.ui import check_host, launch, parse_auth
        auth = parse_auth(args.auth)
        warning = check_host(args.host, args.allow_remote, auth)
        if warning:
            print(f"steerlab ui: warning: {warning}", file=sys.stderr, flush=True)
        folders = args.directions or (["runs"] if Path("runs").is_dir() else [])
        launch(args.model, folders, port=args.port, host=args.host, device=args.device,
               allow_remote=args.allow_remote, auth=auth)
        return 0


@register_command
class CompareSpaces(Command):
    name = "compare-spaces"
    help = "learn one photometric walk in several latent spaces and compare colour change vs structure kept"
    description = ("Jahanian et al. Sec. 4.3: a colour walk in StyleGAN's W keeps structure better than in z. "
                   "Learns the walk in each --spaces and writes directions, a side-by-side strip, metrics.json "
                   "and report.html into --out.")
    shared, model_required, out_default = ("model", "seed", "out", "overwrite", "device", "truncation"), True, \
        "runs/compare-spaces-MODEL-EDIT-N, the first N free"

    def add_arguments(self, p) -> None:
        p.add_argument("--edit", default="color", help="color (default) or brightness")
        p.add_argument("--spaces", type=names, default=["z", "w"], help="comma-separated latent spaces "
                                                                        "(default: z,w)")
        p.add_argument("--steps", type=count(1, MAX_STEPS), default=300, help="Adam steps per walk (default: 300)")
        p.add_argument("--batch-size", type=count(1, MAX_BATCH), default=16, help="samples per step (default: 16)")
        p.add_argument("--lr", type=number(0, 100), default=0.01, help="Adam learning rate (default: 0.01)")
        n = p.add_argument("--n-samples", dest="n_eval", metavar="N", type=count(1, MAX_COUNT), default=32,
                           help="held-out samples measured (default: 32)")
        hidden_alias(p, n, "--n-eval")

    def run(self, args) -> int:
        from steerlab.jobs.compare_spaces import compare_spaces_run
        run = compare_spaces_run(args.model, args.edit, spaces=args.spaces, steps=args.steps,
                                 batch_size=args.batch_size, lr=args.lr, seed=args.seed, n_eval=args.n_eval,
                                 out=args.out, overwrite=args.overwrite, device=args.device,
                                 truncation=args.truncation, truncation_cutoff=args.truncation_cutoff)
        for space, m in run["metrics"].items():
            print(f"{space:>3}: colour gain {m['colour_gain_mean']:.3f}, edge distance "
                  f"{m['edge_distance_mean']:.4f}, ST-LPIPS {m['lpips_distance_mean']:.4f} (target edit: edge "
                  f"{m['target_edge_distance_mean']:.4f}); edge distance at colour gain "
                  f"{m['matched_colour_gain']:.2f}: {m['matched_edge_distance']:.4f}")
        print(f"report: {Path(run['out']) / 'report.html'}")
        return 0


@register_command
class CompareMethods(Command):
    name = "compare-methods"
    help = "every method's best direction for one target effect, side by side (time, effect per ST-LPIPS, FID)"
    description = ("Runs the walks, sefa, ganspace, boundary, latent-discovery, svd and hessian with small settings on "
                   "one model, picks each method's direction that best moves the target, and writes a table "
                   "(discovery time, attribute change per unit ST-LPIPS change with per-sample medians, other "
                   "attributes moving along, FID at a matched effect), one strip per method, metrics.json and "
                   "report.html into --out.")
    shared, model_required, out_default = ("model", "seed", "out", "overwrite", "device", "truncation"), True, \
        "runs/compare-MODEL-TARGET"

    def add_arguments(self, p) -> None:
        p.add_argument("--target", default="shift_x", help="an edit read with its attribute (shift_x, shift_y, "
                                                             "zoom, brightness...) or an attribute MEASURE:KEY such "
                                                             "as box:x (default: shift_x)")
        p.add_argument("--methods", type=names, help="comma-separated method names (default: linear, nonlinear, "
                                                     "sefa, ganspace, boundary, latent-discovery, svd, hessian)")
        p.add_argument("--k", type=count(1, 256), default=6, help="directions each unnamed method finds (default: 6)")
        p.add_argument("--steps", type=count(1, MAX_STEPS), help="one budget of training steps for the walks and "
                                                                  "latent-discovery (default: each method's own, 1000)")
        p.add_argument("--batch-size", type=count(1, MAX_BATCH), help="samples per step of those methods "
                                                                      "(default: each method's own, 16)")
        p.add_argument("--measure", help="measure that reads geometric targets and the other attributes: box, "
                                         "face_box, saliency (default: the model card's, else box)")
        p.add_argument("--n", type=count(2, MAX_COUNT), default=48, help="held-out samples measured (default: 48)")
        p.add_argument("--fid-n", type=count(2, MAX_COUNT), default=128, help="samples of the FID (default: 128)")

    def run(self, args) -> int:
        from steerlab.jobs.compare_methods import COMPARED, compare_methods
        run = compare_methods(args.model, args.target, methods=args.methods or COMPARED, k=args.k, steps=args.steps,
                              batch_size=args.batch_size, n=args.n, fid_n=args.fid_n, seed=args.seed, out=args.out,
                              overwrite=args.overwrite, device=args.device, truncation=args.truncation,
                              truncation_cutoff=args.truncation_cutoff, measure=args.measure)
        for r in run["metrics"]["methods"]:
            if "skipped" in r:
                print(f"{r['method']:>17}: skipped ({r['skipped']})")
                continue
            x = r["matched"]
            print(f"{r['method']:>17}: {r['seconds']:7.1f} s, change/LPIPS {x['ratio']:.3f} (median paired "
                  f"{x['median_paired_ratio']:.3f}, {x['moving_asked_way']:.0%} moving the asked way), FID {x['fid']:.1f}")
        print(f"report: {Path(run['out']) / 'report.html'}")
        return 0


@register_command
class Train(Command):
    name, help = "train", "train a class-conditional DCGAN on a steerlab dataset (zoo file + card)"
    description = ("Draws the dataset (seeded), trains with resumable checkpoints (rerun to continue) and writes "
                   "OUT.safetensors + OUT.json with a model card (command, time, final FID with the feature "
                   "network named).")
    shared = ("seed", "overwrite", "device")

    def add_arguments(self, p) -> None:
        p.add_argument("dataset", help="dataset name (e.g. shapes)")
        p.add_argument("--out", help="path stem of the generator file (default: runs/train/DATASET)")
        p.add_argument("--images", type=count(1, MAX_IMAGES), default=20000, help="training images drawn (default: 20000)")
        p.add_argument("--resolution", type=count(8, 1024), default=32, help="image side (default: 32)")
        p.add_argument("--steps", type=count(1, MAX_STEPS), default=2500, help="GAN steps (default: 2500)")
        p.add_argument("--batch-size", type=count(1, MAX_BATCH), default=32, help="batch size (default: 32)")
        p.add_argument("--lr", type=number(0, 100), default=2e-4, help="Adam learning rate (default: 2e-4)")
        p.add_argument("--width", type=count(1, 4096), default=32, help="DCGAN width (default: 32)")
        p.add_argument("--z-dim", type=count(1, MAX_Z_DIM), default=64, help="latent size (default: 64)")
        p.add_argument("--ms-weight", type=number(0, 1e6, lo_open=False), default=1.0, help="mode-seeking term weight (default: 1)")
        p.add_argument("--fid-images", type=count(0, MAX_COUNT), default=2000, help="images for the card's FID (0: skip)")

    def run(self, args) -> int:
        from steerlab.jobs.train import train
        out = args.out or f"runs/train/{args.dataset}"
        G = train(args.dataset, out, n_images=args.images, resolution=args.resolution, steps=args.steps,
                  batch_size=args.batch_size, lr=args.lr, width=args.width, z_dim=args.z_dim,
                  ms_weight=args.ms_weight, seed=args.seed, fid_images=args.fid_images, device=args.device,
                  overwrite=args.overwrite)
        fid = G.card.get("fid")
        if fid:
            print(f"FID {fid['fid']:.3f} ({fid['feature_network']} features, {fid['n_fake']} images)")
        print(f"model: {out}.safetensors")
        return 0


@register_command
class Layers(Command):
    name, help = "layers", "list the weights of a model that parameter-space directions may shift"
    shared, model_required = ("model", "device"), True

    def run(self, args) -> int:
        from steerlab.jobs.discover import layers
        rows = layers(args.model, device=args.device)
        w = max([4] + [len(r["name"]) for r in rows])
        print(f"{'name':<{w}} {'kind':<6} {'shape':<18} {'params':>9}  {'SVD matrix':<12} {'sigmas':>6}")
        for r in rows:
            print(f"{r['name']:<{w}} {r['kind']:<6} {'x'.join(map(str, r['shape'])):<18} {r['params']:>9}  "
                  f"{'x'.join(map(str, r['matrix'])):<12} {r['singular_values']:>6}")
        return 0


@register_command
class Discover(Command):
    name = "discover"
    help = ("find directions in one layer's weights (Cherepkov et al.: svd, optimize, hessian, hybrid) or in the "
            "latent space without an edit (sefa, ganspace, boundary, latent-discovery)")
    description = ("Writes one direction per file (OUT/directions/kNN.safetensors), inspection grids or strips, the "
                   "analyses asked for, metrics.json and report.html. Weight methods need --layer; latent methods "
                   "take --attribute (boundary), --layers (StyleGAN w+ rows) and --space.")
    shared, model_required, out_default, distributed = ("model", "seed", "out", "overwrite", "device", "truncation",
                                                        "layers"), True, "runs/MODEL-METHOD[-LAYER]", True
    shared += ("checkpoint_every",)
    checkpoint_every = 100

    def add_arguments(self, p) -> None:
        p.add_argument("--method", required=True,
                       help=f"weight space: {', '.join(_family('weight'))} (Cherepkov et al. Sec. 3); latent space: "
                            f"{', '.join(_family('latent'))} (a plugin may add more)")
        p.add_argument("--layer", help="weight name (see `steerlab layers`); weight methods only")
        p.add_argument("--k", type=count(1, 4096), default=16, help="number of directions (default: 16)")
        p.add_argument("--shift", type=number(0, 1e6), help="fixed shift range T for all directions (default: calibrated "
                                                   "per direction to --target)")
        p.add_argument("--target", type=number(0, 1e3), default=0.15,
                       help="mean ST-LPIPS change at +-T that calibrates T (default: 0.15)")
        p.add_argument("--steps", type=count(1, MAX_STEPS), default=1000,
                       help="Eq. 1 training steps (optimize, hybrid; default: 1000)")
        p.add_argument("--batch-size", type=count(1, MAX_BATCH), default=16, help="Eq. 1 batch (default: 16)")
        p.add_argument("--lr", type=number(0, 100), default=1e-3, help="Eq. 1 Adam learning rate (default: 1e-3)")
        p.add_argument("--n-z", type=count(1, MAX_BATCH), default=32,
                       help="z batch estimating the Hessian on the first try (default: 32; the paper: 512)")
        p.add_argument("--eigen", type=count(1, 4096), help="eigenvectors spanning the hybrid subspace (default: k)")
        p.add_argument("--no-overlap", action="store_true",
                       help="hessian: skip the second, disjoint z batch that measures the directions' stability")
        p.add_argument("--stable-overlap", type=number(0, 1, lo_open=False),
                       help="hessian: grow --n-z until two disjoint batches' top --stable-k directions agree this "
                            "much (subspace overlap, 1 = same), up to --max-n-z; 0: one batch, the overlap only "
                            "reported (default: 0.9; on a CPU, hours for a layer as wide as faces conv2)")
        p.add_argument("--max-n-z", type=count(1, MAX_BATCH), default=1024,
                       help="hessian: the largest batch --stable-overlap may grow to (default: 1024)")
        p.add_argument("--stable-k", type=count(0, 4096), default=4,
                       help="hessian: how many leading directions --stable-overlap asks to agree (default: 4; 0: all "
                            "--k; past the first eigen-gap single eigenvectors are not identifiable)")
        p.add_argument("--analyze", type=names, default=["locality"],
                       help="comma-separated analyses: locality, fid, mimic (default: locality; '' for none)")
        p.add_argument("--no-resume", action="store_true", help="ignore an interrupted run's checkpoint")
        g = p.add_argument_group("latent methods (sefa, ganspace, boundary, latent-discovery)")
        g.add_argument("--attribute", help="boundary: MEASURE:KEY read from each sample, e.g. box:x, box:area, "
                                           "colour:luminance, face_box:width (default: box:x)")
        g.add_argument("--condition", help="boundary: a second MEASURE:KEY projected out of the direction")
        g.add_argument("--space", help="boundary, latent-discovery: z (default) or w")
        g.add_argument("--n-samples", type=count(16, MAX_COUNT), help="boundary, ganspace: latents sampled "
                                                                      "(default: 2000 / 5000)")
        g.add_argument("--range", type=number(0, 1e6), dest="alpha_range",
                       help="alpha range +-R in standard deviations of the latent along a direction (default: 3)")

    def run(self, args) -> int:
        import time

        from steerlab.jobs.discover import discover
        from steerlab.jobs.latent import LATENT_METHODS
        if args.no_overlap and args.stable_overlap:
            raise ValueError("--stable-overlap needs the overlap of two batches; it cannot run with overlap off "
                             "(--no-overlap)")
        default_stable = METHODS.get("hessian").config().stable_overlap
        stable = (0.0 if args.no_overlap else default_stable) if args.stable_overlap is None else args.stable_overlap
        latent, overlap = {}, {"overlap": not args.no_overlap, "stable_overlap": stable,
                               "max_n_z": args.max_n_z, "stable_k": args.stable_k}
        if args.method in LATENT_METHODS:
            given = {"attribute": args.attribute, "condition": args.condition, "space": args.space,
                     "n_samples": args.n_samples, "limit": args.alpha_range,
                     "layers": None if args.layers is None else ",".join(map(str, args.layers))}
            takes = {o.name for o in METHODS.get(args.method).options()}
            unused = [k for k, v in given.items() if v is not None and k not in takes]
            if unused:
                raise ValueError(f"--{unused[0].replace('_', '-')} does not apply to --method {args.method}")
            latent, overlap = {k: v for k, v in given.items() if v is not None}, {}
            args.shift = None
        else:
            extra = [f for f in ("attribute", "condition", "space", "n_samples", "alpha_range", "layers")
                     if getattr(args, f) is not None]
            if extra:
                flag = "--range" if extra[0] == "alpha_range" else f"--{extra[0].replace('_', '-')}"
                raise ValueError(f"{flag} applies to the latent methods ({', '.join(LATENT_METHODS)}), "
                                 f"not to --method {args.method}")
        t0 = time.perf_counter()
        run = discover(args.model, args.method, args.layer, k=args.k, out=args.out, overwrite=args.overwrite,
                       limit=args.shift, target=args.target, steps=args.steps, batch_size=args.batch_size,
                       lr=args.lr, n_z=args.n_z, eigen=args.eigen, seed=args.seed, analyze=args.analyze,
                       device=args.device, resume=not args.no_resume, truncation=args.truncation,
                       truncation_cutoff=args.truncation_cutoff,
                       checkpoint_every=args.checkpoint_every, **latent, **overlap)
        m = run["metrics"]
        if args.method in LATENT_METHODS:
            print(f"{len(run['directions'])} {m['method']} directions ({m['find_seconds']:.1f} s): "
                  f"{Path(run['out']) / 'directions'}")
            print(f"report: {Path(run['out']) / 'report.html'}")
            return 0
        print(f"{len(run['directions'])} {m['method']} directions in {m['layer']} (found in {m['find_seconds']:.1f} s; "
              f"{time.perf_counter() - t0:.1f} s in all, with loading, calibration and analyses): "
              f"{Path(run['out']) / 'directions'}")
        if "hessian_overlap" in m:
            j = m["hessian_stable_k"]
            lead = f"top-{j} {m['hessian_overlap_prefix'][j - 1]:.3f}, " if j < m["k"] else ""
            print(f"stability: subspace overlap of two disjoint batches of {m['hessian_n_z']} z: {lead}"
                  f"top-{m['k']} {m['hessian_overlap']:.3f} (1: the directions do not depend on the draw of z)"
                  + ("" if m.get("hessian_stable", True) else
                     f"; --stable-overlap {stable} not reached by --max-n-z {args.max_n_z}")
                  + (f"; top-{j} below 0.9, see --stable-overlap and the metrics' hessian_gaps"
                     if m["hessian_overlap_prefix"][j - 1] < 0.9 and not stable else ""))
        print(f"report: {Path(run['out']) / 'report.html'}")
        return 0


@register_command
class AnalyzeWeights(Command):
    name = "analyze-weights"
    help = "FID vs shift, locality heatmaps and the latent-mimic test for saved weight directions"
    shared, out_default = ("model", "out", "overwrite", "force", "device", "truncation"), "runs/analyze-weights-N, the first N free"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("directions", nargs="+", help="a `discover` run folder, or direction files")
        p.add_argument("--what", type=names, default=["locality", "fid", "mimic"],
                       help="comma-separated: locality, fid, mimic (default: all three)")

    def run(self, args) -> int:
        from steerlab.jobs.discover import analyze
        src = args.directions[0] if len(args.directions) == 1 else args.directions
        run = analyze(src, what=args.what, out=args.out, overwrite=args.overwrite, model=args.model,
                      force=args.force, device=args.device, truncation=args.truncation, truncation_cutoff=args.truncation_cutoff)
        print(f"report: {Path(run['out']) / 'report.html'}")
        return 0
