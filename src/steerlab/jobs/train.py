"""`steerlab train`: train a class-conditional DCGAN on a steerlab dataset into a generator file with a card."""
from __future__ import annotations

from steerlab.training.dataset_gan import train_dataset_gan


def train(dataset: str, out, **options):
    """Train on ``dataset`` and write ``out.safetensors`` + ``out.json`` (see `train_dataset_gan`)."""
    return train_dataset_gan(dataset, out, **options)
