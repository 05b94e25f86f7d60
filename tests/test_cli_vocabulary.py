"""The command line reads as one tool: classes, run folders as directions, fresh default folders,
negative list values, one option vocabulary with help everywhere, readable strips."""
import argparse

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import make_tiny
from steerlab.cli import build_parser, glue_negative_values, main
from steerlab.cli.base import VOCABULARY, floats
from steerlab.models import save_generator

NAMES = ["disc", "ring", "star"]


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cond(tmp_path):
    """A tiny 3-class conditional generator file whose card names its classes, and a zoom direction for it."""
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.models import load_generator
    path = save_generator(make_tiny(num_classes=3, name="tinyc"), tmp_path / "tinyc", card={"class_names": NAMES})
    d = learn_linear_walk(load_generator(path), "zoom", steps=1, batch_size=2, progress=False)
    return path, d.save(tmp_path / "zoomdir")


def _subparsers(parser):
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


# --------------------------------------------------------------------------- apply --classes
def test_one_class_applies_to_every_seed_and_names_equal_numbers(cond):
    from steerlab.jobs.apply import apply
    model, d = cond
    both = apply(d, model=str(model), seeds=[0, 1], classes=[2], alphas=[1, 2])
    assert both.shape[:2] == (2, 2)  # no seed dropped
    alone = apply(d, model=str(model), seeds=[1], classes=[2], alphas=[1, 2])
    torch.testing.assert_close(both[1], alone[0])
    by_name = apply(d, model=str(model), seeds=[0, 1], classes=["star"], alphas=[1, 2])
    torch.testing.assert_close(by_name, both)
    other = apply(d, model=str(model), seeds=[0, 1], classes=[0], alphas=[1, 2])
    assert (other - both).abs().max() > 1e-3  # the class reaches the generator


def test_classes_are_crossed_with_seeds_none_dropped(cond, tmp_path):
    from steerlab.jobs.apply import apply
    model, d = cond
    images = apply(d, model=str(model), seeds=[0, 1], classes=["disc", 1, "star"], alphas=[1, 2],
                   out=tmp_path / "ap")
    assert images.shape[:2] == (6, 2)
    seed1_star = apply(d, model=str(model), seeds=[1], classes=[2], alphas=[1, 2])
    torch.testing.assert_close(images[5], seed1_star[0])  # sample-major: (seed 1, class 2) is the last row
    two_rows = apply(d, model=str(model), seeds=[0, 1], classes=[1], alphas=[1, 2], out=tmp_path / "ap2")
    assert two_rows.shape[0] == 2
    tall, short = Image.open(tmp_path / "ap" / "strip.png"), Image.open(tmp_path / "ap2" / "strip.png")
    assert tall.height > 2.5 * (short.height - 40)  # one labelled row per (seed, class)


@pytest.mark.parametrize("classes, needle", [
    ("0,5", "unknown class '5'"),
    ("disc,moon", "unknown class 'moon'"),
])
def test_bad_classes_name_the_class_and_the_allowed_ones(cond, tmp_path, capsys, classes, needle):
    model, d = cond
    code, _, err = run(["apply", str(d), "--model", str(model), "--classes", classes,
                        "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and needle in err and "0-2" in err and "star" in err and err.count("\n") == 1
    assert "alphas" not in err and not (tmp_path / "x").exists()


def test_classes_on_an_unconditional_model_are_refused(tmp_path, tiny_file, capsys):
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.models import load_generator
    d = learn_linear_walk(load_generator(tiny_file), "zoom", steps=1, batch_size=2, progress=False).save(tmp_path / "d")
    code, _, err = run(["apply", str(d), "--model", str(tiny_file), "--classes", "1", "--out", str(tmp_path / "x")],
                       capsys)
    assert code == 2 and "unconditional" in err and "--classes" in err


# --------------------------------------------------------------------------- run folders
def test_run_folder_is_accepted_as_a_direction_and_defaults_are_fresh(tmp_path, tiny_file, capsys, monkeypatch):
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.models import load_generator
    monkeypatch.chdir(tmp_path)
    walk = tmp_path / "zoom"  # what `steerlab walk --out zoom` leaves, with the files beside it
    learn_linear_walk(load_generator(tiny_file), "zoom", steps=1, batch_size=2, progress=False).save(walk / "direction")
    (walk / "strip.png").write_bytes(b"")
    for n in (1, 2):  # a second apply without --out gets a new folder instead of stopping
        code, text, err = run(["apply", str(walk), "--model", str(tiny_file), "--seeds", "0",
                               "--alphas", "1,2"], capsys)
        assert code == 0, err
        assert (tmp_path / "runs" / f"apply-tiny-zoom-{n}" / "strip.png").is_file()
        assert f"apply-tiny-zoom-{n}" in text and "1 x 2 images" in text


def test_folder_without_or_with_several_directions_is_refused(tmp_path, tiny_file, capsys):
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.models import load_generator
    (tmp_path / "empty").mkdir()
    code, _, err = run(["apply", str(tmp_path / "empty"), "--model", str(tiny_file)], capsys)
    assert code == 2 and "no direction file" in err
    d = learn_linear_walk(load_generator(tiny_file), "zoom", steps=1, batch_size=2, progress=False)
    d.save(tmp_path / "two" / "a")
    d.save(tmp_path / "two" / "b")
    code, _, err = run(["apply", str(tmp_path / "two"), "--model", str(tiny_file)], capsys)
    assert code == 2 and "holds 2 direction files" in err and "name one" in err


def test_another_models_direction_refusal_names_the_force_option(cond, tmp_path, tiny_file, capsys):
    _, d = cond
    code, _, err = run(["apply", str(d), "--model", str(tiny_file), "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "--force" in err and "use force" not in err


# --------------------------------------------------------------------------- parsing
def _parse_leniently(p: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse one subcommand's options with its other required arguments filled with placeholders."""
    for a in p._actions:
        a.required = False
    positionals = ["X" for a in p._actions if not a.option_strings]
    return p.parse_args(positionals + glue_negative_values(argv))


def test_every_list_valued_option_takes_a_leading_minus():
    checked = 0
    for name, p in _subparsers(build_parser()).items():
        for a in p._actions:
            if a.type is floats and a.option_strings and a.help != argparse.SUPPRESS:
                for text, want in (("-0.3,0,0.3", [-0.3, 0.0, 0.3]), ("-1:0:0,0.5:0:0", [[-1, 0, 0], [0.5, 0, 0]])):
                    ns = _parse_leniently(build_parser_sub(name), [a.option_strings[0], text])
                    assert getattr(ns, a.dest) == want, (name, a.option_strings[0], text)
                checked += 1
    assert checked >= 2  # apply --alphas, evaluate --alphas at least


def build_parser_sub(name):
    return _subparsers(build_parser())[name]


def test_every_option_of_every_subcommand_has_help_and_hidden_ones_are_old_spellings():
    for name, p in _subparsers(build_parser()).items():
        visible = {a.dest for a in p._actions if a.help != argparse.SUPPRESS}
        for a in p._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help, f"steerlab {name} {a.option_strings or a.dest}: no help text"
            if a.help == argparse.SUPPRESS:  # a hidden alias must write the same value as a shown option
                assert a.dest in visible, f"steerlab {name} {a.option_strings}: hidden, and no shown option for it"


@pytest.mark.parametrize("command, new, old, dest, value", [
    ("evaluate", "--n-samples", "--n", "n", 7),
    ("trajectory", "--n-samples", "--n-eval", "n_eval", 7),
    ("compare-spaces", "--n-samples", "--n-eval", "n_eval", 7),
    ("reproduce", "--n-samples", "--n-eval", "n_eval", 7),
    ("reproduce", "--steps", "--train-steps", "train_steps", 9),
    ("reproduce", "--train-seeds", "--seeds", "seeds", [0, 1]),
])
def test_old_spellings_still_work_and_are_hidden(command, new, old, dest, value):
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    for flag in (new, old):
        ns = _parse_leniently(build_parser_sub(command), [flag, text])
        assert getattr(ns, dest) == value, flag
    helptext = build_parser_sub(command).format_help()
    assert new in helptext and f"{old} " not in helptext.replace(f"{old}-", "")


def test_top_level_help_lists_every_experiment_and_the_vocabulary(capsys):
    from steerlab.reproduce import REPRODUCTIONS
    code = main(["--help"])
    out = capsys.readouterr().out
    assert code == 0
    for name in REPRODUCTIONS:
        assert name in out
    assert "One vocabulary" in out
    shown = {f for p in _subparsers(build_parser()).values() for a in p._actions
             if a.help != argparse.SUPPRESS for f in a.option_strings}
    for word in ("--model", "--out", "--overwrite", "--force", "--device", "--seeds", "--steps",
                 "--n-samples", "--alphas", "--classes", "--train-seeds"):
        assert word in VOCABULARY and word in shown, word


# --------------------------------------------------------------------------- pictures
def test_strip_labels_stay_legible_at_any_column_count():
    from steerlab.report.plots import FONT_SIZE, MAX_WIDTH, MIN_CELL, grid_image
    row = torch.rand(15, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    labels = [f"{a:+.3f}" for a in torch.linspace(-1, 1, 15).tolist()]
    few = grid_image([row[:3]], col_labels=labels[:3], title="alpha")
    many = grid_image([row], col_labels=labels, title="alpha")
    assert many.width <= MAX_WIDTH and many.height > 1.8 * few.height  # wrapped into bands, not shrunk
    # the cells are enlarged, never the text: a cell is at least MIN_CELL and as wide as a label
    from PIL import ImageDraw

    from steerlab.report.plots import _font
    label_w = max(ImageDraw.Draw(many).textlength(t, font=_font()) for t in labels)
    cell = (few.width - 2 * 3) / 3
    assert cell >= MIN_CELL and cell >= label_w and FONT_SIZE >= 12


def test_gif_frames_carry_their_alpha(cond, tmp_path):
    from steerlab.jobs.apply import apply
    model, d = cond
    apply(d, model=str(model), seeds=[0, 1], alphas=[0.5, 1, 2], out=tmp_path / "ap")
    gif = Image.open(tmp_path / "ap" / "strip.gif")
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(gif.convert("RGB").copy())
    assert len(frames) == 4 and len({f.size for f in frames}) == 1  # forward and back, one size
    title = [torch.from_numpy(np.array(f.crop((0, 0, f.width, 20)))).float() for f in frames]
    assert (title[0] - title[2]).abs().max() > 0  # each frame's title names its own alpha
    body = [torch.from_numpy(np.array(f.crop((0, 24, f.width, f.height)))).float() for f in frames]
    assert (body[0] - body[2]).abs().mean() > 0


# --------------------------------------------------------------------------- walk vs doing nothing
def test_beats_doing_nothing_reads_per_sample_pairs():
    from steerlab.evaluation.steerability import beats_doing_nothing
    g = torch.Generator().manual_seed(0)
    base = torch.rand(20, 5, generator=g) + 0.5
    better = beats_doing_nothing(torch.stack([0.7 * base, base], -1))
    assert better["beats_doing_nothing"] and better["fraction_samples_better"] == 1.0
    assert better["median_paired_change"] < 0 and abs(better["l2_gain"] - 0.3) < 1e-6
    same = beats_doing_nothing(torch.stack([base * 1.001, base], -1))
    assert not same["beats_doing_nothing"] and same["l2_gain"] < 0
    # a mean carried by a few samples while most get worse is not a walk
    few = torch.stack([torch.cat([0.1 * base[:5], 1.02 * base[5:]]), base], -1)
    r = beats_doing_nothing(few)
    assert r["l2_gain"] > 0.05 and r["fraction_samples_better"] == 0.25 and not r["beats_doing_nothing"]


def test_walk_and_evaluate_reports_flag_a_walk_no_better_than_doing_nothing(tmp_path, tiny_file, capsys):
    from steerlab.jobs.evaluate import evaluate
    from steerlab.methods.walks import learn_linear_walk
    from steerlab.models import load_generator
    d = learn_linear_walk(load_generator(tiny_file), "zoom", steps=1, batch_size=2, progress=False)
    d.tensors["w"].zero_()  # a walk that moves nothing: exactly as good as doing nothing
    run = evaluate(d, model=str(tiny_file), n=4, n_alphas=3, fid=False, out=tmp_path / "ev", progress=False)
    t = run["metrics"]["target_l2"]
    assert abs(t["walk_l2_mean"] - t["baseline_l2_mean"]) < 1e-6 and not t["beats_doing_nothing"]
    report = (tmp_path / "ev" / "report.html").read_text()
    assert 'class="flag"' in report and "does NOT beat doing nothing" in report
    assert "&lt;b&gt;" not in report and "<b>" in report  # the header's markup is markup, not shown as text


def test_invert_takes_class_names_too(cond, tmp_path):
    from steerlab.jobs.invert import invert_images
    model, _ = cond
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    by_name = invert_images(images, str(model), steps=2, restarts=1, classes=["star"], progress=False)
    by_number = invert_images(images, str(model), steps=2, restarts=1, classes=[2], progress=False)
    torch.testing.assert_close(by_name["z"], by_number["z"])
    with pytest.raises(ValueError, match="unknown class 'moon'.*0-2"):
        invert_images(images, str(model), steps=2, restarts=1, classes=["moon"], progress=False)
