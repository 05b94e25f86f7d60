"""The generator protocol every model is used through, bundled or user-supplied.

A `Generator` is an `nn.Module` adapter with a small, fixed surface:

- attributes ``name``, ``z_dim``, ``num_classes`` (0 if unconditional), ``resolution``,
  ``channels``, ``latent_spaces`` (e.g. ``("z",)`` or ``("z", "w", "w+")``);
- ``sample_latent(n, generator=...)`` -> z, ``to_space(z, space)`` -> latent in that space,
  ``synthesize(latent, space=..., classes=...)`` -> images, float32 (N, C, H, W) in [0, 1];
- ``shiftable_weights()`` -> the weight tensors a parameter-space direction may shift, by
  name, and ``synthesize_shifted(...)`` which renders with shifted weights *without mutating
  the model* (``torch.func.functional_call``);
- ``fingerprint``: a stable hash of what defines the model (see `Generator.fingerprint`), so a
  direction learned for one model is refused by another.

Subclasses implement ``_synthesize(latent, space, classes)`` returning images in the model's
own range ``output_range``; the base class converts to [0, 1].
"""
from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import torch
from torch import Tensor, nn

_PROJECTIONS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)


class _Stop(Exception):
    """Raised by a forward hook to end a forward pass once the layer it watches has run."""


class Generator(nn.Module):
    """Base class of every steerlab model adapter (see the module docstring)."""

    name: str = "generator"
    z_dim: int = 0
    num_classes: int = 0
    resolution: int = 0
    channels: int = 3
    latent_spaces: tuple[str, ...] = ("z",)
    output_range: tuple[float, float] = (-1.0, 1.0)
    # How `fingerprint` identifies the model: "content" (facts and weights) or "v1" (class name,
    # config and weights). steerlab's built-in families say "v1" so that the fingerprints stored in
    # direction files written since the first release still match their models.
    fingerprint_scheme: str = "content"

    # ------------------------------------------------------------------ sampling
    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def sample_z(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` latent codes z ~ N(0, I), shape (n, z_dim), on the model's device."""
        z = torch.randn(n, self.z_dim, generator=generator, device="cpu")
        return z.to(self.device)

    def sample_classes(self, n: int, *, generator: torch.Generator | None = None) -> Tensor | None:
        """Uniformly random class labels (n,) for a conditional model, ``None`` otherwise."""
        if not self.num_classes:
            return None
        return torch.randint(0, self.num_classes, (n,), generator=generator).to(self.device)

    def sample_latent(self, n: int, *, generator: torch.Generator | None = None,
                      space: str = "z", classes: Tensor | None = None) -> Tensor:
        """Draw ``n`` codes and map them into ``space``."""
        return self.to_space(self.sample_z(n, generator=generator), space, classes=classes)

    def check_space(self, space: str) -> None:
        if space not in self.latent_spaces:
            raise ValueError(f"model '{self.name}' has no latent space '{space}'; "
                             f"allowed: {', '.join(self.latent_spaces)}")

    def check_classes(self, classes: Tensor | None, n: int) -> Tensor | None:
        if not self.num_classes:
            if classes is not None:
                raise ValueError(f"model '{self.name}' is unconditional; do not pass classes")
            return None
        if classes is None:
            raise ValueError(f"model '{self.name}' is class-conditional with {self.num_classes} "
                             "classes; pass classes")
        classes = torch.as_tensor(classes, dtype=torch.long, device=self.device).reshape(-1)
        if classes.numel() == 1 and n > 1:
            classes = classes.expand(n)
        if classes.numel() != n or int(classes.min()) < 0 or int(classes.max()) >= self.num_classes:
            raise ValueError(f"classes must be {n} labels in [0, {self.num_classes - 1}]")
        return classes

    def to_space(self, z: Tensor, space: str = "z", classes: Tensor | None = None) -> Tensor:
        """Map z (N, z_dim) into ``space``. The base model only has ``z``."""
        self.check_space(space)
        return z

    # ------------------------------------------------------------------ synthesis
    def _synthesize(self, latent: Tensor, space: str, classes: Tensor | None) -> Tensor:
        raise NotImplementedError

    def synthesize(self, latent: Tensor, *, space: str = "z",
                   classes: Tensor | None = None) -> Tensor:
        """Render images from latents.

        Args:
            latent: codes in ``space``; (N, z_dim) for ``z``.
            space: one of ``latent_spaces``.
            classes: (N,) int labels for a conditional model, else ``None``.

        Returns:
            float32 images (N, channels, resolution, resolution) in [0, 1].
        """
        self.check_space(space)
        classes = self.check_classes(classes, latent.shape[0])
        raw = self._synthesize(latent, space, classes)
        lo, hi = self.output_range
        return ((raw - lo) / (hi - lo)).clamp(0.0, 1.0)

    def forward(self, latent: Tensor, space: str = "z", classes: Tensor | None = None) -> Tensor:
        return self.synthesize(latent, space=space, classes=classes)

    # ------------------------------------------------------------------ weight space
    def shiftable_weights(self) -> dict[str, Tensor]:
        """Weights a parameter-space direction may shift: every conv / linear weight, by name."""
        return {name: p for name, p in self.named_parameters() if p.dim() >= 2}

    def synthesize_shifted(self, latent: Tensor, shifts: dict[str, Tensor], *, space: str = "z",
                           classes: Tensor | None = None) -> Tensor:
        """Render with ``weight + shift`` for each named weight, leaving the model untouched.

        Differentiable w.r.t. ``shifts``. Returns images (N, C, H, W) in [0, 1].
        """
        weights = self.shiftable_weights()
        unknown = sorted(set(shifts) - set(weights))
        if unknown:
            raise ValueError(f"unknown weight(s) {unknown} for model '{self.name}'; "
                             "see `steerlab layers`")
        params = {k: weights[k] + v for k, v in shifts.items()}
        return torch.func.functional_call(self, params, (latent,),
                                          {"space": space, "classes": classes})

    # ------------------------------------------------------------------ latent projections
    def first_layer_output(self, latent: Tensor, *, space: str = "z", classes: Tensor | None = None,
                           module: str | None = None) -> Tensor:
        """The output of the first conv / linear layer a latent reaches (or of the named ``module``).

        Rendering stops as soon as that layer has run, so this costs a fraction of a forward pass.
        GANSpace reads its "early feature layer" here for models without a w space.

        Args:
            latent: codes in ``space``, (N, *latent_shape).
            module: a name from ``named_modules()`` (e.g. "conv1", "bn1"); default: the first
                ``nn.Linear`` / ``nn.Conv*`` / ``nn.ConvTranspose*`` called.

        Returns:
            (N, F) the layer's output, flattened per sample.
        """
        mods = dict(self.named_modules())
        if module is not None and module not in mods:
            shown = ", ".join(n for n in mods if n)[:300]
            raise ValueError(f"model '{self.name}' has no module '{module}'; allowed: {shown}")
        watched = [mods[module]] if module is not None else [
            m for m in self.modules() if isinstance(m, _PROJECTIONS)]
        found: list[Tensor] = []

        def hook(mod, args, out):
            found.append(out)
            raise _Stop

        handles = [m.register_forward_hook(hook) for m in watched]
        try:
            self.synthesize(latent, space=space, classes=classes)
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
        if not found:
            raise ValueError(f"model '{self.name}' calls no linear or conv layer on its latent; pass a module name")
        return found[0].reshape(latent.shape[0], -1)

    @torch.no_grad()
    def latent_projections(self, layers=None) -> tuple[str, dict[str, Tensor]]:
        """The weights that first project the latent, as matrices A (out, latent_dim): SeFa's A.

        Default (DCGAN, VAE, BigGAN, wrapped modules): the first conv / linear layer z reaches, read
        as the Jacobian of its output with respect to z: for a layer linear in z (a DCGAN's first
        transposed conv, a linear layer) that is exactly its weight restricted to the z inputs, as an
        (out_features * H * W, z_dim) matrix. StyleGAN families override it with their style affines.

        Args:
            layers: w+ rows (StyleGAN only); None here.

        Returns:
            ``(space, {name: A})``: the latent space the matrices act on and one matrix per layer.

        Raises:
            ValueError: ``layers`` given for a model without w+ rows, or a first layer that is not
                linear in z (one line).
        """
        if layers is not None:
            raise ValueError(f"model '{self.name}' has no w+ rows; layers apply to StyleGAN models (got {layers})")
        d = self.z_dim
        z = torch.cat([torch.zeros(1, d), torch.eye(d)]).to(self.device)           # (1 + d, d)
        classes = torch.zeros(d + 1, dtype=torch.long, device=self.device) if self.num_classes else None
        out = self.first_layer_output(z, classes=classes)                           # (1 + d, F)
        A = (out[1:] - out[:1]).T.contiguous()                                      # (F, d)
        probe = torch.randn(2, d, generator=torch.Generator().manual_seed(0)).to(self.device)
        got = self.first_layer_output(probe, classes=None if classes is None else classes[:2])
        want = out[:1] + probe @ A.T
        if not torch.allclose(got, want, rtol=1e-3, atol=1e-4 * float(want.abs().max().clamp_min(1.0))):
            raise ValueError(f"the first layer of model '{self.name}' is not linear in z, so it has no single "
                             "projection matrix (SeFa needs one)")
        return "z", {"first layer": A}

    # ------------------------------------------------------------------ identity
    def config(self) -> dict[str, Any]:
        """JSON-able constructor arguments (for save/load and the fingerprint)."""
        return {}

    @property
    def fingerprint(self) -> str:
        """16 hex chars identifying the model, so a direction learned for one model is refused by another.

        Scheme "content" (the default, and every user model): a hash of `fingerprint_facts` (shape
        facts, output range, latent spaces; not the display name) and of `fingerprint_tensors`
        (every weight and buffer by its name relative to the network that holds it: a subclass's
        own ``state_dict()``, a wrapped module's ``state_dict()``). The same network therefore
        has one fingerprint whether it is a `Generator` subclass, wrapped by `wrap_generator`, or
        saved and loaded back. Settings that are not tensors (e.g. an activation chosen by a
        constructor flag) are not part of it: keep such a setting in a buffer if directions must
        tell two models apart by it.

        Scheme "v1" (built-in families): the adapter's class name, its `config` and its
        ``state_dict()``, exactly as the first release hashed them.

        Cached until a tensor is replaced or modified in place (tracked by storage pointer and
        autograd version counter), so checking a direction against its model costs ~nothing.
        """
        tensors = self.fingerprint_tensors() if self.fingerprint_scheme == "content" else self.state_dict()
        identity = self._fingerprint_identity()
        key = (identity, tuple((k, t.data_ptr(), t._version) for k, t in tensors.items()))
        cached = self.__dict__.get("_fingerprint_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        value = _hash(identity, tensors)
        self.__dict__["_fingerprint_cache"] = (key, value)
        return value

    def fingerprint_facts(self) -> dict[str, Any]:
        """What the "content" fingerprint hashes besides the tensors: the facts that change the images."""
        return {"z_dim": int(self.z_dim), "resolution": int(self.resolution), "channels": int(self.channels),
                "num_classes": int(self.num_classes), "output_range": [float(v) for v in self.output_range],
                "latent_spaces": list(self.latent_spaces)}

    def fingerprint_tensors(self) -> dict[str, Tensor]:
        """The tensors of the "content" fingerprint, named relative to the network (default: ``state_dict()``)."""
        return self.state_dict()

    def _fingerprint_identity(self) -> str:
        """The text hashed before the tensors (a prefix of the v1 hash, kept byte for byte)."""
        if self.fingerprint_scheme == "v1":
            return type(self).__name__ + json.dumps(self._psi_as_loaded(self.config()), sort_keys=True)
        if self.fingerprint_scheme == "content":
            return "steerlab-generator/content" + json.dumps(self._psi_as_loaded(self.fingerprint_facts()),
                                                             sort_keys=True)
        raise ValueError(f"{type(self).__name__}.fingerprint_scheme is {self.fingerprint_scheme!r}; "
                         "allowed: content, v1")

    def _psi_as_loaded(self, facts: dict[str, Any]) -> dict[str, Any]:
        """``facts`` with the truncation psi the model was built with (a psi set by `set_truncation` is a
        rendering choice: directions learned at one psi apply at another, so the fingerprint ignores it)."""
        if "_loaded_truncation_psi" in self.__dict__ and "truncation_psi" in facts:
            return {**facts, "truncation_psi": self.__dict__["_loaded_truncation_psi"]}
        return facts

    # ------------------------------------------------------------------ truncation
    def set_truncation(self, psi: float, cutoff: int | None = None) -> None:
        """Truncation psi of a model with a mapping network: ``w = w_avg + psi (w - w_avg)`` (1 = none).

        Applies when z is mapped to w / w+ (`to_space`, and z-space rendering); latents given directly
        in w / w+ are used as they are. ``cutoff`` (NVlabs' ``truncation_cutoff``): psi applies only to
        the first ``cutoff`` w+ rows (an int in [0, num_ws]), later rows keep psi 1; None: every row.
        Models without a mapping network and ``w_avg`` (DCGAN, VAE, BigGAN, whose psi is a different
        thing set when it is loaded) refuse it with a ValueError.
        """
        try:
            psi = float(psi)
        except (TypeError, ValueError):
            raise ValueError(f"truncation psi must be a number in [0, 2], got {psi!r}") from None
        if not math.isfinite(psi) or not 0.0 <= psi <= 2.0:
            raise ValueError(f"truncation psi must be a finite number in [0, 2], got {psi}")
        w_avg = getattr(getattr(self, "mapping", None), "w_avg", None)
        if not hasattr(self, "truncation_psi") or not torch.is_tensor(w_avg):
            raise ValueError(f"model {self.name!r} has no mapping network with w_avg, so it takes no truncation "
                             "psi (StyleGAN models do)")
        n_ws = getattr(self, "num_ws", None)
        if cutoff is not None and (isinstance(cutoff, bool) or not isinstance(cutoff, int) or n_ws is None
                                   or not 0 <= cutoff <= n_ws):
            raise ValueError(f"truncation cutoff must be a whole number of w+ rows in [0, {n_ws}], got {cutoff!r}"
                             if n_ws is not None else f"model {self.name!r} has no w+ rows, so it takes no "
                             "truncation cutoff")
        self.__dict__.setdefault("_loaded_truncation_psi", self.truncation_psi)
        self.truncation_psi, self.truncation_cutoff = psi, cutoff

    def describe(self) -> str:
        cls = f", {self.num_classes} classes" if self.num_classes else ""
        return (f"{self.name}: {self.channels}x{self.resolution}x{self.resolution}, "
                f"z_dim {self.z_dim}, spaces {'/'.join(self.latent_spaces)}{cls}")


def _hash(identity: str, tensors: dict[str, Tensor]) -> str:
    """sha256 over ``identity`` then, in name order, each tensor's name, shape and raw bytes; 16 hex chars."""
    h = hashlib.sha256()
    h.update(identity.encode())
    for key, t in sorted(tensors.items()):
        h.update(key.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())  # any dtype
    return h.hexdigest()[:16]


class StyleSpaces:
    """The z / w / w+ latent spaces of a StyleGAN-family generator (mixed in before `Generator`).

    Needs ``z_dim``, ``w_dim``, ``num_ws`` (the number of w+ rows), ``mapping.w_avg``, ``truncation_psi``
    and ``_map(z, classes) -> w`` (the family's mapping network, untruncated) on the model.
    """

    truncation_cutoff: int | None = None  # psi only on the first N w+ rows (`Generator.set_truncation`)

    def _map(self, z: Tensor, classes: Tensor | None) -> Tensor:
        raise NotImplementedError

    def to_space(self, z: Tensor, space: str = "z", classes: Tensor | None = None) -> Tensor:
        """z (N, z_dim) -> z, truncated w (N, w_dim) or w+ (N, num_ws, w_dim).

        Truncation as NVlabs' mapping network does it: ``w_avg + psi (w - w_avg)`` on the first
        ``truncation_cutoff`` rows of w+ (every row when None), the other rows untruncated. A cutoff that
        truncates some rows but not all has no single w, so ``space="w"`` refuses it (one line).
        """
        self._check_latent(z, "z")
        if space == "z":
            return z
        self.check_space(space)
        w = self._map(z, self.check_classes(classes, z.shape[0]))  # (N, w_dim)
        psi, cut = self.truncation_psi, self.num_ws if self.truncation_cutoff is None else self.truncation_cutoff
        if psi == 1.0 or cut == 0:
            return w if space == "w" else w[:, None].repeat(1, self.num_ws, 1)
        if space == "w":
            if cut < self.num_ws:
                raise ValueError(f"truncation cutoff {cut} truncates only the first {cut} of the {self.num_ws} w+ "
                                 "rows, which space 'w' (one row for all) cannot hold; use space w+ or no cutoff")
            return self.mapping.w_avg.lerp(w, psi)
        ws = w[:, None].repeat(1, self.num_ws, 1)  # (N, num_ws, w_dim)
        return torch.cat([self.mapping.w_avg.lerp(ws[:, :cut], psi), ws[:, cut:]], dim=1)

    def latent_shape(self, space: str) -> tuple[int, ...]:
        """Shape of one code in ``space`` (without the batch dimension)."""
        self.check_space(space)
        return {"z": (self.z_dim,), "w": (self.w_dim,), "w+": (self.num_ws, self.w_dim)}[space]

    def _check_latent(self, latent: Tensor, space: str) -> None:
        want = self.latent_shape(space)
        if latent.dim() != len(want) + 1 or tuple(latent.shape[1:]) != want:
            raise ValueError(f"a latent in space '{space}' of '{self.name}' must have shape "
                             f"(N, {', '.join(map(str, want))}), got {tuple(latent.shape)}")

    @torch.no_grad()
    def latent_projections(self, layers=None) -> tuple[str, dict[str, Tensor]]:
        """The style affines that project w, as matrices A (out, w_dim), for the w+ rows ``layers``.

        Every modulated layer reads one w+ row through an affine map ``style = A w + b`` (a module
        named ``affine``, in all three StyleGAN families); which row each reads is found by
        rendering once with row r of w+ set to r + 1, and A is read as the affine's Jacobian.

        Args:
            layers: w+ rows (ints in [0, num_ws)); None: every row.

        Returns:
            ``("w", {"<module name> (row r)": A})`` in w+ row order.

        Raises:
            ValueError: a row outside [0, num_ws) (one line).
        """
        rows = list(range(self.num_ws)) if layers is None else sorted({int(i) for i in layers})
        if not rows or rows[0] < 0 or rows[-1] >= self.num_ws:
            raise ValueError(f"layers {','.join(map(str, rows)) or 'none'} are outside the {self.num_ws} w+ rows of "
                             f"model '{self.name}' (allowed: 0-{self.num_ws - 1})")
        affines = {n: m for n, m in self.named_modules() if n.split(".")[-1] == "affine"}
        row_of: dict[str, int] = {}

        def hook(name):
            def read(mod, args):
                row_of.setdefault(name, int(round(float(args[0].reshape(-1)[0]))) - 1)
            return read

        handles = [m.register_forward_pre_hook(hook(n)) for n, m in affines.items()]
        try:
            ws = (torch.arange(self.num_ws, dtype=torch.float32, device=self.device) + 1)[None, :, None]
            classes = torch.zeros(1, dtype=torch.long, device=self.device) if self.num_classes else None
            self.synthesize(ws.expand(1, self.num_ws, self.w_dim).contiguous(), space="w+", classes=classes)
        finally:
            for h in handles:
                h.remove()
        eye = torch.cat([torch.zeros(1, self.w_dim), torch.eye(self.w_dim)]).to(self.device)
        out = {}
        for name in sorted(row_of, key=lambda n: row_of[n]):
            if row_of[name] in rows:
                y = affines[name](eye)                                           # (1 + w_dim, out)
                out[f"{name} (row {row_of[name]})"] = (y[1:] - y[:1]).T.contiguous()  # (out, w_dim)
        return "w", out
