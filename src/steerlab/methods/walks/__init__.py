"""Latent walks: linear (Eq. 1), nonlinear (Eq. 2) and A.3's G(z + alpha NN(z)).

All three train with one loop (`loop.train_walk`: Adam on a fresh batch each step, gradients
averaged over data-parallel ranks); they differ in their parameters and their step loss.
``spaces`` compares walks learned in z, w and w+.
"""
from steerlab.methods.walks.linear import learn_linear_walk, steer_linear
from steerlab.methods.walks.nonlinear import learn_nn_walk, learn_nonlinear_walk, steer_nonlinear

__all__ = ["learn_linear_walk", "learn_nn_walk", "learn_nonlinear_walk", "steer_linear", "steer_nonlinear"]
