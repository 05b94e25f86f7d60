"""The bottom layer: what every other part of steerlab builds on, importing nothing above it.

- ``io``: atomic writes, JSON, safetensors, THE tensors+header file (`write_tensor_file` /
  `read_tensor_file`) that directions, latents, trajectory sets and generator files use;
- ``errors``: `FileFormatError`, `ModelMismatch` (one-line ValueErrors);
- ``registry``: `Registry`, the validating name -> object table behind every extension point;
- ``seeds``: the named seed streams (every draw besides a run's own seed);
- ``images``: the one image loader (limits for untrusted files);
- ``distributed``, ``runs``, ``plugins``: torchrun helpers, the run folder, user plugins.

Submodules are imported on use (``from steerlab.core import seeds``), so this package stays light.
"""
