"""The package's shape: light imports, one home per option, every CLI option documented."""
import argparse
import subprocess
import sys

HEAVY = ("matplotlib", "gradio", "cv2", "sklearn", "skimage")


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return [m for m in out.strip().split(",") if m]


def test_light_imports_load_no_plotting_ui_or_vision_library():
    for statement in ("import steerlab", "import steerlab.edits", "import steerlab.directions",
                      "import steerlab.models", "import steerlab.methods", "import steerlab.cli"):
        assert _loaded_after(statement) == [], statement


def test_public_api_names_resolve_lazily():
    import steerlab
    for name in steerlab.__all__:
        assert getattr(steerlab, name) is not None, name
    try:
        steerlab.no_such_name  # noqa: B018
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("unknown attribute did not raise")


def test_every_cli_option_has_help_and_shared_options_mean_one_thing():
    from steerlab.cli import build_parser
    from steerlab.cli.base import SHARED
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    shared_help = {flags[0]: kw["help"] for flags, kw in SHARED.values()}
    assert len(sub.choices) >= 15
    for name, p in sub.choices.items():
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"steerlab {name} {action.option_strings or action.dest}: no help text"
            flag = action.option_strings[0] if action.option_strings else None
            if flag in shared_help and flag not in ("--out", "--model"):
                assert action.help == shared_help[flag], f"steerlab {name} {flag} differs from the shared one"
