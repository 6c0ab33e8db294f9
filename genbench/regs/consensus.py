"""Consensus optimization (Mescheder et al. 2017, "The Numerics of GANs"): both players add
gamma * grad L(w) with L = 1/2 ||v(w)||^2, v the joint gradient vector field of the game, which damps its
rotation (the imaginary parts of the Jacobian's eigenvalues) without moving the equilibrium.

Simultaneous updates (the paper's setting): v and the penalty's gradient are taken at the same point as the
players' own gradients, and both step. Alternating updates: each player's step evaluates v at the point it
starts from (G's step sees the D just updated) and applies its own part of gamma * grad L."""

from __future__ import annotations

from genbench.regs.base import Regularizer


class ConsensusOptimization(Regularizer):
    name = "consensus"

    def __init__(self, weight: float = 10.0):
        self.weight = float(weight)

    def joint_penalty(self, grads_d, grads_g, step):
        return 0.5 * self.weight * sum(g.pow(2).sum() for g in (*grads_d, *grads_g))
