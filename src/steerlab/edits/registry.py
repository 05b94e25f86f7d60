"""A small validating registry of named edits and their alpha mappings (paper App. A.2).

Each :class:`Edit` couples a pure function from :mod:`steerlab.edits.functional` with what a
walk needs to know about it: the allowed range of the user-facing strength ``alpha_t``, the
identity value, and the map to the walk coordinate ``alpha_g`` (``log`` for multiplicative
edits such as zoom, ``linear`` with a scale otherwise).

Example:
    >>> edit = get_edit("zoom")
    >>> target, mask = edit(torch.rand(2, 3, 16, 16), [2.0, 0.5])
    >>> edit.to_g(torch.tensor([4.0])).item()  # log(4)
    1.3862943649291992
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import torch

from steerlab.core.registry import Registry, UnknownName
from steerlab.edits import functional as F

__all__ = ["Edit", "EDITS", "UnknownEditError", "get_edit", "list_edits", "register_edit"]

AlphaLike = Union[float, int, Sequence[float], Sequence[Sequence[float]], torch.Tensor]
EditFn = Callable[[torch.Tensor, torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]

_TOL = 1e-6  # slack on the range check, so float32 round trips of the end points pass


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Edit:
    r"""A named image edit with its alpha range and ``alpha_t <-> alpha_g`` mapping.

    Args:
        name: registry key, e.g. ``"zoom"``.
        fn: ``fn(images, alpha_t) -> (target, mask)``, see :mod:`steerlab.edits.functional`.
        alpha_dim: 1 for scalar edits, 3 for colour.
        alpha_range: allowed ``alpha_t`` range ``(low, high)``, per component.
        identity: the ``alpha_t`` that leaves images unchanged (per component).
        unit: human-readable meaning of ``alpha_t``.
        mapping: ``"log"`` (``alpha_g = log(alpha_t) / scale``) or ``"linear"``
            (``alpha_g = alpha_t / scale``).
        scale: divisor of the mapping; 1 for the paper's log mapping.
        description: one sentence for reports and the CLI.

    Example:
        >>> rot = get_edit("rotate2d")
        >>> rot.to_g(torch.tensor([45.0, -22.5])).tolist()
        [1.0, -0.5]
    """

    name: str
    fn: EditFn
    alpha_dim: int
    alpha_range: tuple[float, float]
    identity: float
    unit: str
    mapping: str
    scale: float = 1.0
    description: str = ""

    def __post_init__(self) -> None:
        lo, hi = self.alpha_range
        problems = []
        if self.alpha_dim not in (1, 3):
            problems.append(f"alpha_dim must be 1 or 3, got {self.alpha_dim}")
        if self.mapping not in ("log", "linear"):
            problems.append(f"mapping must be 'log' or 'linear', got {self.mapping!r}")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            problems.append(f"scale must be positive, got {self.scale}")
        if not (lo < hi and lo <= self.identity <= hi):
            problems.append(f"need low < high and identity inside the range, got {self.alpha_range}, {self.identity}")
        if self.mapping == "log" and lo <= 0:
            problems.append(f"a log mapping needs a positive range, got {self.alpha_range}")
        if problems:
            raise ValueError(f"invalid edit {self.name!r}: " + "; ".join(problems))

    # ------------------------------------------------------------------ alpha mapping

    def to_g(self, alpha_t: torch.Tensor) -> torch.Tensor:
        """Map user units ``alpha_t`` to the walk coordinate ``alpha_g`` (elementwise)."""
        alpha_t = torch.as_tensor(alpha_t, dtype=torch.get_default_dtype()) if not torch.is_tensor(alpha_t) else alpha_t
        return (torch.log(alpha_t) if self.mapping == "log" else alpha_t) / self.scale

    def to_t(self, alpha_g: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_g`: walk coordinate ``alpha_g`` to user units ``alpha_t``."""
        alpha_g = torch.as_tensor(alpha_g, dtype=torch.get_default_dtype()) if not torch.is_tensor(alpha_g) else alpha_g
        scaled = alpha_g * self.scale
        return torch.exp(scaled) if self.mapping == "log" else scaled

    @property
    def range_g(self) -> tuple[float, float]:
        """The allowed range in ``alpha_g`` units."""
        lo, hi = self.to_g(torch.tensor(self.alpha_range, dtype=torch.float64)).tolist()
        return lo, hi

    # ------------------------------------------------------------------ validation

    def _range_text(self) -> str:
        lo, hi = self.alpha_range
        return f"[{_fmt(lo)}, {_fmt(hi)}] ({self.unit})"

    def check(self, alpha_t: AlphaLike, *, batch_size: int | None = None) -> torch.Tensor:
        r"""Validate ``alpha_t`` and return it as a float tensor.

        Args:
            alpha_t: a number, a list or a tensor; for colour a 3-sequence or rows of 3.
                Scalar edits also accept an ``(N, 1)`` column.
            batch_size: if given, a single value (or a single colour) is broadcast to it and a
                batch of any other length is refused.

        Returns:
            ``(N,)`` for scalar edits, ``(N, 3)`` for colour (``N = 1`` for a single value
            when no ``batch_size`` is given). Floating tensors keep their dtype, device and
            autograd graph; anything else becomes float32.

        Raises:
            ValueError: one line naming the edit, the bad value and the allowed range, for
                values outside ``alpha_range`` (tolerance 1e-6), NaN/inf, or a wrong shape.
        """
        alpha = alpha_t if torch.is_tensor(alpha_t) else torch.as_tensor(alpha_t, dtype=torch.float32)
        if not alpha.is_floating_point():
            alpha = alpha.float()
        alpha = self._shape(alpha, batch_size)
        values = alpha.detach()
        bad = ~torch.isfinite(values)
        lo, hi = self.alpha_range
        bad |= (values < lo - _TOL) | (values > hi + _TOL)
        if bool(bad.any()):
            first = values[bad][0].item()
            raise ValueError(
                f"edit {self.name!r}: alpha {_fmt(first)} is outside the allowed range {self._range_text()}"
            )
        return alpha

    def _shape(self, alpha: torch.Tensor, batch_size: int | None) -> torch.Tensor:
        want = "(N,)" if self.alpha_dim == 1 else "(N, 3) or a 3-sequence"
        shape_error = ValueError(
            f"edit {self.name!r}: alpha has shape {tuple(alpha.shape)}, expected {want}"
            + (f" with N = {batch_size} or a single value" if batch_size is not None else "")
        )
        if self.alpha_dim == 1:
            if alpha.dim() == 2 and alpha.shape[1] == 1:
                alpha = alpha[:, 0]
            if alpha.dim() > 1:
                raise shape_error
            alpha = alpha.reshape(-1)
        else:
            if alpha.dim() == 1:
                alpha = alpha[None]
            if alpha.dim() != 2 or alpha.shape[1] != 3:
                raise shape_error
        if alpha.shape[0] == 0:
            raise shape_error
        if batch_size is not None and alpha.shape[0] != batch_size:
            if alpha.shape[0] != 1:
                raise shape_error
            alpha = alpha.expand(batch_size, *alpha.shape[1:])
        return alpha

    def _check_images(self, images: torch.Tensor) -> None:
        if not torch.is_tensor(images) or images.dim() != 4:
            shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            raise ValueError(f"edit {self.name!r}: images must be a 4-D (N, C, H, W) tensor, got {shape}")
        if not images.is_floating_point():
            raise ValueError(f"edit {self.name!r}: images must be floating point in [0, 1], got {images.dtype}")
        if not bool(torch.isfinite(images.detach()).all()):
            raise ValueError(f"edit {self.name!r}: images contain NaN or inf")

    # ------------------------------------------------------------------ use

    def __call__(self, images: torch.Tensor, alpha_t: AlphaLike) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Validate the inputs and apply the edit.

        Args:
            images: float images in ``[0, 1]``.
            alpha_t: a number, list or tensor (see :meth:`check`); one value is broadcast.

        Returns:
            ``(target, mask)``.

        Shape:
            - images: :math:`(N, C, H, W)`
            - target: :math:`(N, C, H, W)`, mask: :math:`(N, 1, H, W)`
        """
        self._check_images(images)
        alpha = self.check(alpha_t, batch_size=images.shape[0])
        return self.fn(images, alpha.to(device=images.device, dtype=images.dtype))

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        r"""Draw ``n`` random ``alpha_t``, uniform in ``alpha_g`` over the range.

        So zoom and contrast are log-uniform; colour draws each component independently.

        Returns:
            float32 ``(n,)``, or ``(n, 3)`` for colour, on ``device``.
        """
        g_lo, g_hi = self.range_g
        shape = (n,) if self.alpha_dim == 1 else (n, 3)
        gen_device = generator.device if generator is not None else device
        u = torch.rand(shape, generator=generator, device=gen_device, dtype=torch.float64).to(device)
        alpha_t = self.to_t(g_lo + (g_hi - g_lo) * u)
        return alpha_t.clamp(*self.alpha_range).float()  # clamp: exp(log(x)) may overshoot by an ulp

    def grid(self, n: int) -> torch.Tensor:
        r"""``n`` evenly spaced values in ``alpha_g``, ordered low to high, containing the identity.

        The identity is always one of the points; the remaining ``n - 1`` are split between the
        two sides in proportion to their lengths and share one step, chosen as large as the range
        allows. For a range symmetric in ``alpha_g`` and odd ``n`` this is exactly
        ``linspace(g_low, g_high, n)``; for even ``n`` the extra point goes to the negative side.

        Returns:
            float32 ``(n,)``; for colour ``(3 * n, 3)``: ``n`` red-only steps, then green, then blue.

        Example:
            >>> get_edit("shift_x").grid(5).tolist()
            [-0.5, -0.25, 0.0, 0.25, 0.5]
        """
        if n < 1:
            raise ValueError(f"edit {self.name!r}: grid needs n >= 1, got {n}")
        g_lo, g_hi = self.range_g
        g_id = float(self.to_g(torch.tensor(self.identity, dtype=torch.float64)))
        below = math.floor((n - 1) * (g_id - g_lo) / (g_hi - g_lo) + 0.5)  # round half up
        above = n - 1 - below
        steps = [(g_id - g_lo) / below if below else math.inf, (g_hi - g_id) / above if above else math.inf]
        step = min(steps) if n > 1 else 0.0
        g = g_id + step * torch.arange(-below, above + 1, dtype=torch.float64)
        values = self.to_t(g).clamp(*self.alpha_range)
        if self.mapping == "log":  # make the identity exact despite exp(log(1)) round-off
            values[below] = self.identity
        values = values.float()
        if self.alpha_dim == 1:
            return values
        rows = torch.full((3, n, 3), float(self.identity))
        for channel in range(3):
            rows[channel, :, channel] = values
        return rows.reshape(3 * n, 3)


# ----------------------------------------------------------------------------- the registry


class UnknownEditError(UnknownName):
    """Raised by :func:`get_edit` for a name that is not registered (a ``KeyError`` and a ``ValueError``)."""


EDITS: Registry[Edit] = Registry("edit", kind=Edit)
"""Every edit by name (a validating `steerlab.core.registry.Registry`)."""


def register_edit(edit: Edit, *, overwrite: bool = False) -> Edit:
    """Add ``edit`` to :data:`EDITS` under ``edit.name``; refuses to replace one unless ``overwrite``.

    Raises:
        TypeError: ``edit`` is not an `Edit`.
        ValueError: an edit of that name is already registered (without ``overwrite``).
    """
    if not isinstance(edit, Edit):
        raise TypeError(f"register_edit expects an Edit, got {type(edit).__name__}")
    if edit.name in EDITS and not overwrite:  # even the same edit: a second registration is a mistake here
        raise ValueError(f"edit '{edit.name}' is already registered; choose another name or pass overwrite=True")
    return EDITS.register(edit.name, edit, overwrite=overwrite)


def get_edit(name: str) -> Edit:
    """Return the registered edit called ``name``; :class:`UnknownEditError` lists the allowed names."""
    try:
        return EDITS.get(name)
    except UnknownName as e:
        raise UnknownEditError(str(e)) from None


def list_edits() -> list[Edit]:
    """All registered edits, sorted by name."""
    return EDITS.values()


# The paper's seven edits (App. A.2) with shift split into x and y.
for _edit in (
    Edit("zoom", F.zoom, 1, (0.25, 4.0), 1.0, "zoom factor (>1 zooms in)", "log", 1.0,
         "Zoom about the centre: crop-and-resize in, anti-aliased shrink out (masked border)."),
    Edit("shift_x", F.shift_x, 1, (-0.5, 0.5), 0.0, "shift as a fraction of the width (+ = right)", "linear", 1.0,
         "Horizontal translation, bilinear, with the exposed border masked."),
    Edit("shift_y", F.shift_y, 1, (-0.5, 0.5), 0.0, "shift as a fraction of the height (+ = down)", "linear", 1.0,
         "Vertical translation, bilinear, with the exposed border masked."),
    Edit("rotate2d", F.rotate2d, 1, (-45.0, 45.0), 0.0, "degrees (+ = counter-clockwise)", "linear", 45.0,
         "In-plane rotation about the centre, with the exposed corners masked."),
    Edit("rotate3d", F.rotate3d, 1, (-45.0, 45.0), 0.0, "degrees about the vertical axis (+ = right edge recedes)",
         "linear", 45.0, "Perspective 'billboard' turn about the vertical axis, with the exposed background masked."),
    Edit("color", F.color, 3, (-0.5, 0.5), 0.0, "RGB offsets added per channel", "linear", 1.0,
         "Add an (R, G, B) offset to the channels and clamp to [0, 1]."),
    Edit("brightness", F.brightness, 1, (-0.5, 0.5), 0.0, "offset added to every channel", "linear", 1.0,
         "Add one offset to all channels and clamp to [0, 1]."),
    Edit("contrast", F.contrast, 1, (0.5, 2.0), 1.0, "contrast factor (>1 more contrast)", "log", 1.0,
         "Scale the deviation from the per-image mean and clamp to [0, 1]."),
):
    register_edit(_edit)
del _edit
