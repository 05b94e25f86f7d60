"""Latent walks: linear (Eq. 1) and, later, nonlinear (Eq. 2)."""
from .linear import learn_linear_walk, steer_linear

__all__ = ["learn_linear_walk", "steer_linear"]
