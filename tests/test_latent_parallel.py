"""The latent methods with batches under torchrun: 2 CPU processes (gloo) find the 1-process direction.

Boundary splits its scoring passes, GANSpace its feature passes, latent discovery its
reconstructor batches (per-rank batch B against one process with 2B). The 1-process reference
runs in this process through the API with one thread, like a torchrun rank.
"""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from steerlab.jobs.latent import discover_latent
from test_distributed import _leftovers, one_thread, torchrun


def _direction(folder, i: int = 0) -> torch.Tensor:
    return load_file(folder / "directions" / f"k{i:02d}.safetensors")["w"].reshape(-1)


def _one_and_two(tiny_file, tmp_path, method: str, api: dict, cli: list[str], k: int):
    with one_thread():
        discover_latent(str(tiny_file), method, k=k, out=tmp_path / "one", progress=False, n_grid_z=1, **api)
    res = torchrun(["discover", "--model", str(tiny_file), "--method", method, "--k", str(k), *cli,
                    "--out", "two"], tmp_path, timeout=600)  # a loaded 2-core machine
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((tmp_path / "two" / "metrics.json").read_text())["run"]["processes"] == 2
    assert _leftovers(tmp_path) == []
    return [(_direction(tmp_path / "one", i), _direction(tmp_path / "two", i)) for i in range(k)]


@pytest.mark.slow
def test_boundary_scores_split_over_two_processes_give_the_same_normal(tiny_file, tmp_path):
    # 200 samples scored in batches of 64: rank 0 scores two batches, rank 1 one of 64 and one of 8
    pairs = _one_and_two(tiny_file, tmp_path, "boundary", dict(attribute="colour:luminance", n_samples=200),
                         ["--attribute", "colour:luminance", "--n-samples", "200"], k=1)
    (a, b), = pairs
    assert torch.equal(a, b)  # the same scores, bit for bit, so the same SVM


def test_ganspace_features_split_over_two_processes_give_the_same_components(tiny_file, tmp_path):
    pairs = _one_and_two(tiny_file, tmp_path, "ganspace", dict(n_samples=600), ["--n-samples", "600"], k=3)
    for a, b in pairs:
        assert torch.equal(a, b)


@pytest.mark.slow
def test_latent_discovery_on_two_processes_matches_one_with_twice_the_batch(tiny_file, tmp_path):
    pairs = _one_and_two(tiny_file, tmp_path, "latent-discovery", dict(steps=5, batch_size=8),
                         ["--steps", "5", "--batch-size", "4"], k=3)
    for a, b in pairs:
        # float summation order alone differs (global BatchNorm statistics, averaged gradients)
        assert float(torch.nn.functional.cosine_similarity(a, b, dim=0)) > 0.9999
        assert float((a - b).abs().max()) < 1e-4 * float(a.abs().max())
