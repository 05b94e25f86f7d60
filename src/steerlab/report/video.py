"""MP4 video of a sequence of frames, with the ffmpeg that the `imageio-ffmpeg` wheel carries.

No system ffmpeg is needed: `imageio_ffmpeg.get_ffmpeg_exe()` finds the binary inside the wheel
(the ``ui`` extra installs it). H.264 in yuv420p needs even sides, and players like multiples of
16, so frames are padded with white to the next multiple of 16 (never scaled).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from steerlab.core.io import atomic_write

BLOCK = 16


def save_mp4(frames: Sequence[Image.Image], path: str | os.PathLike, fps: float = 6.0,
             back_and_forth: bool = True) -> Path:
    """Write ``frames`` (PIL images of one size) as an H.264 MP4 at ``fps``; atomic.

    Args:
        frames: at least one image; RGB or convertible.
        path: the ``.mp4`` file to write.
        fps: frames per second, in (0, 60].
        back_and_forth: play forward then back (as the GIFs do), for a smooth loop.

    Raises:
        ValueError: no frames, frames of different sizes, a bad fps, or imageio-ffmpeg missing (one line).
    """
    if not frames:
        raise ValueError("an MP4 needs at least one frame")
    if not 0 < float(fps) <= 60:
        raise ValueError(f"fps must be in (0, 60], got {fps}")
    sizes = {f.size for f in frames}
    if len(sizes) != 1:
        raise ValueError(f"MP4 frames must all have one size, got {sorted(sizes)}")
    try:
        import imageio_ffmpeg
    except ModuleNotFoundError:
        raise ValueError("MP4 export needs imageio-ffmpeg: pip install -c constraints.txt -e '.[ui]'") from None
    w, h = sizes.pop()
    W, H = -(-w // BLOCK) * BLOCK, -(-h // BLOCK) * BLOCK
    seq = list(frames) + (list(frames[-2:0:-1]) if back_and_forth else [])

    def write(tmp: str) -> None:
        out = imageio_ffmpeg.write_frames(tmp, (W, H), fps=float(fps), codec="libx264", macro_block_size=1,
                                          output_params=["-f", "mp4"], ffmpeg_log_level="error")
        out.send(None)
        try:
            for f in seq:
                canvas = Image.new("RGB", (W, H), "white")
                canvas.paste(f.convert("RGB"), (0, 0))
                out.send(np.ascontiguousarray(np.asarray(canvas)).tobytes())
        finally:
            out.close()
    return atomic_write(path, write)
