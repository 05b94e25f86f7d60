"""Use your own generator `nn.Module` with every steerlab method in a few lines.

`wrap_generator` adapts a network mapping z (N, z_dim) to images to the `Generator` protocol and
freezes it (eval mode, no gradients), so a walk never back-propagates into its weights. To save
the wrapped model and load it back (``steerlab walk --model mine.safetensors``, `apply`, the UI),
register the network's class, or a factory, under a name with `register_network`, in a plugin
module that the loading process imports (``steerlab --plugin MODULE``; see `steerlab.core.plugins`).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from steerlab.models import wrap_generator
    >>> net = nn.Sequential(nn.Linear(16, 3 * 8 * 8), nn.Tanh(), nn.Unflatten(1, (3, 8, 8)))
    >>> G = wrap_generator(net, z_dim=16, resolution=8, output_range=(-1, 1), name="mine")
    >>> G.synthesize(G.sample_z(4)).shape
    torch.Size([4, 3, 8, 8])
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from steerlab.core.registry import Registry
from steerlab.models.base import Generator

# name -> an nn.Module class or a factory ``(**network_config) -> nn.Module``: how a saved wrapped
# model's network is rebuilt before its weights are loaded into it.
NETWORKS: Registry[Callable[..., nn.Module]] = Registry("network", callable_=True)

PLUGIN_HINT = "register it with steerlab.models.register_network in a plugin module and load it with --plugin MODULE"


def register_network(name: str, network: Callable[..., nn.Module] | None = None, *,
                     overwrite: bool = False):
    """Register a network class (or a factory) so wrapped models using it can be saved and loaded.

    ``register_network("mine", Mine)`` registers and returns ``Mine``; ``@register_network("mine")``
    does the same as a class decorator. On load the network is rebuilt as
    ``network(**network_config)`` and then receives the saved weights.
    """
    if network is None:
        return NETWORKS.decorator(name, overwrite=overwrite)
    return NETWORKS.register(name, network, overwrite=overwrite)


def registered_network_name(module: nn.Module) -> str | None:
    """The name ``type(module)`` is registered under, or ``None`` (a factory is never found this way)."""
    return next((name for name, obj in NETWORKS.items() if obj is type(module)), None)


class ModuleGenerator(Generator):
    """Adapter around a user's ``nn.Module`` that maps z (and optionally class labels) to images.

    Args:
        module: called as ``module(z)`` or, if ``num_classes > 0``, ``module(z, classes)``;
            must return (N, channels, resolution, resolution) images in ``output_range``.
            It is frozen: put in eval mode with ``requires_grad`` off for every weight.
        z_dim, resolution, channels, num_classes: the generator's shape facts.
        output_range: value range of the module's output, e.g. (-1, 1) for tanh, (0, 1).
        name: shown in reports and stored with directions.
        network: the name the module's class (or a factory) is registered under with
            `register_network`; default: the name its class is registered under, if any.
            Needed only to save the model.
        network_config: JSON-able keyword arguments that rebuild the module,
            ``NETWORKS[network](**network_config)``; default: ``module.config()`` if the module
            has such a method, else ``{}``.
    """

    def __init__(self, module: nn.Module, *, z_dim: int, resolution: int, channels: int = 3,
                 num_classes: int = 0, output_range: tuple[float, float] = (-1.0, 1.0),
                 name: str = "custom", network: str | None = None, network_config: dict | None = None):
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"wrap_generator needs an nn.Module, got {type(module).__name__}")
        self.module = module
        self.eval().requires_grad_(False)  # a walk must never train the user's weights
        self.z_dim, self.resolution, self.channels = int(z_dim), int(resolution), int(channels)
        self.num_classes, self.output_range, self.name = int(num_classes), tuple(output_range), name
        self._network = network
        self._network_config = network_config

    # ------------------------------------------------------------------ identity and file format
    @property
    def network(self) -> str | None:
        """The registered name the module is rebuilt from (resolved now: it may be registered after wrapping)."""
        return self._network or registered_network_name(self.module)

    @property
    def network_config(self) -> dict[str, Any]:
        if self._network_config is not None:
            return dict(self._network_config)
        own = getattr(self.module, "config", None)
        return dict(own()) if callable(own) else {}

    def config(self) -> dict:
        return {"z_dim": self.z_dim, "resolution": self.resolution, "channels": self.channels,
                "num_classes": self.num_classes, "output_range": list(self.output_range),
                "name": self.name, "network": self.network, "network_config": self.network_config}

    def fingerprint_tensors(self) -> dict[str, Tensor]:
        """The module's own ``state_dict()`` (names without the adapter's ``module.`` prefix)."""
        return self.module.state_dict()

    def check_rebuildable(self) -> None:
        """Raise a one-line ValueError unless `from_config(config())` would rebuild this module's weights.

        The network is built on the meta device (no memory, no init cost) and its weight names and
        shapes compared with the module's, so a file that is saved is a file that loads.
        """
        network, cfg = self.network, self.network_config
        if network is None:
            raise ValueError(f"cannot save wrapped model '{self.name}': its network "
                             f"{type(self.module).__name__} is not registered; {PLUGIN_HINT}")
        if network not in NETWORKS:
            raise ValueError(f"cannot save wrapped model '{self.name}': network '{network}' is not registered; "
                             f"{PLUGIN_HINT}")
        factory = NETWORKS.get(network)
        try:
            with torch.device("meta"):
                rebuilt = factory(**cfg)
        except Exception:  # noqa: BLE001  (some init code cannot run on meta tensors: build it for real)
            rebuilt = _build(network, factory, cfg)
        want = {k: tuple(v.shape) for k, v in self.module.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
        if want != got:
            diff = sorted(set(want) ^ set(got)) or [k for k in want if want[k] != got[k]]
            raise ValueError(f"cannot save wrapped model '{self.name}': network '{network}' built from "
                             f"network_config {cfg} does not match the wrapped module (differs at {diff[:3]}); "
                             "pass network_config= to wrap_generator")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ModuleGenerator":
        """Rebuild from a saved `config` (weights not loaded): ``NETWORKS[network](**network_config)``."""
        config = dict(config)
        network, cfg = config.pop("network", None), config.pop("network_config", None) or {}
        if not network:
            raise ValueError("the file names no network; it was not written by save_generator")
        if network not in NETWORKS:
            raise ValueError(f"network '{network}' is not registered (registered: "
                             f"{', '.join(NETWORKS.names()) or 'none'}); {PLUGIN_HINT}")
        module = _build(network, NETWORKS.get(network), cfg)
        return cls(module, network=network, network_config=cfg, **config)

    # ------------------------------------------------------------------ synthesis
    def _synthesize(self, latent: Tensor, space: str, classes: Tensor | None) -> Tensor:
        out = self.module(latent) if classes is None else self.module(latent, classes)
        want = (latent.shape[0], self.channels, self.resolution, self.resolution)
        if tuple(out.shape) != want:
            raise ValueError(f"wrapped generator returned shape {tuple(out.shape)}, expected {want}")
        return out


def _build(network: str, factory: Callable[..., nn.Module], cfg: dict) -> nn.Module:
    """``factory(**cfg)``, checked to be an nn.Module; a bad config is one line naming the network."""
    try:
        module = factory(**cfg)
    except TypeError as e:
        raise ValueError(f"network '{network}' cannot be built from network_config {cfg} ({e})") from None
    if not isinstance(module, nn.Module):
        raise ValueError(f"network '{network}' built a {type(module).__name__}, not an nn.Module")
    return module


def wrap_generator(module: nn.Module, *, z_dim: int, resolution: int, channels: int = 3,
                   num_classes: int = 0, output_range: tuple[float, float] = (-1.0, 1.0),
                   name: str = "custom", network: str | None = None,
                   network_config: dict | None = None) -> ModuleGenerator:
    """Wrap and freeze ``module`` (see `ModuleGenerator` for the arguments)."""
    return ModuleGenerator(module, z_dim=z_dim, resolution=resolution, channels=channels,
                           num_classes=num_classes, output_range=output_range, name=name,
                           network=network, network_config=network_config)
