"""The steering wheel: an interactive web UI for every saved direction (`steerlab ui`).

`steer` (several directions at once) and `Library` (models, direction files, uploads) need
no web framework; `build_app` / `launch` import gradio only when called.
"""
from steerlab.ui.library import Library, check_host, check_launch, find_direction_files, parse_auth, read_image
from steerlab.ui.steering import steer


def build_app(*args, **kwargs):
    """See `steerlab.ui.app.build_app` (imports gradio)."""
    from steerlab.ui.app import build_app as _build
    return _build(*args, **kwargs)


def launch(models=None, directions=(), *, port: int = 7860, host: str = "127.0.0.1", device: str = "cpu",
           block: bool = True, inverter="auto", allow_remote: bool = False, auth=None):
    """Serve the steering wheel; see `steerlab.ui.app.launch` (imports gradio after checking args).

    ``host`` other than loopback is refused unless ``allow_remote``; ``auth`` is ``"user:password"``
    or a ``(user, password)`` pair, asked by gradio's login page.
    """
    check_launch(port, directions)
    check_host(host, allow_remote, auth)
    auth = parse_auth(auth) if isinstance(auth, str) else auth
    Library(models, directions, device=device)  # fail fast on unknown models, before gradio loads
    try:
        from steerlab.ui.app import launch as _launch
    except ModuleNotFoundError as e:
        if e.name != "gradio":
            raise
        raise ValueError("the web UI needs gradio: pip install -c constraints.txt -e '.[ui]'") from None
    return _launch(models, directions, port=port, host=host, device=device, block=block, inverter=inverter,
                   allow_remote=allow_remote, auth=auth)


__all__ = ["Library", "build_app", "check_host", "find_direction_files", "launch", "parse_auth", "read_image",
           "steer"]
