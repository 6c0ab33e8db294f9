"""Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs", sec. 3.2): D sees
how close each sample is to the others in its batch, so a generator collapsed onto a few points is easy to tell
from the data.

For features f(x_i) in R^A (D's body, `SplitDiscriminator.features`) and a learned T in R^{A x B x C}:
M_i = f(x_i) T in R^{B x C}, c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1), o(x_i)_b = sum_{j != i} c_b(x_i, x_j);
the final layer then sees [f(x_i), o(x_i)] in R^{A + B}.

Choices:
- the sum leaves j = i out (as the authors' reference code does). Including it adds exactly c_b(x_i, x_i) = 1 to
  every o_b, a constant the final layer's bias absorbs, so both define the same family of discriminators; leaving
  it out makes o = 0 mean "no close neighbour" (and a batch of one gives o = 0). `include_self: true` restores
  the literal sum.
- T is stored as a bias-free linear map A -> B*C (`mbd.T.weight`, shape (B*C, A)), drawn from N(0, 1/A) so M has
  the features' scale; the new final layer is a linear map A + B -> 1 whose first A columns (and bias) start as
  D's own final layer and whose B new columns start at zero, so the wrapped D starts as the family's D and learns
  to use o (T gets gradients from the first step on, through those columns). o is a sum over the batch, up to
  N - 1 per kernel, so its scale grows with the batch size.
- the batch is what D sees in one call. The GANModule scores the real and the fake batch in separate calls
  (`d_objective`), which is the paper's setup: a fake batch's samples are compared only with each other, so a
  collapsed generator's near-identical samples give large o, unlike a real batch's. Batch-dependent D outputs also
  mean D's score for a sample is no longer a function of that sample alone.
- gradient penalties (gp, gp0, r1, r2, dragan) take per-sample input gradients of sum_i D(x_i); with this layer
  D(x_i) depends on every x_j, so the "per-sample" gradient of x_i also carries cross-sample terms
  sum_j dD(x_j)/dx_i. The penalties still run (double backprop works: `pairwise_l1` has a differentiable
  backward), but they then penalize that batch-coupled field, not the sample's own.
- cost: N^2 B C per call; the backward builds its sign tensor a few kernels at a time (`pairwise_l1`). The
  measured cost and the batch to use: docs/models.md, "Minibatch discrimination's cost".
- defaults B = 100, C = 5: the authors' CIFAR-10 code (num_kernels=100, 5 dimensions per kernel); the paper's
  text gives no numbers.
- order with spectral normalization: this wrapper replaces D's final layer. When D's final layer is already
  spectrally normalized (reg=[sn,minibatch_disc]) the new layers (T and the final linear map) get the same
  normalization; with reg=[minibatch_disc,sn] sn normalizes them itself. Both orders give the same structure.
Needs a family with the features/head split (mlp, dcgan, resnet32; see genbench/nets/layers.py); dirac has none.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm, spectral_norm

from genbench.errors import ConfigError
from genbench.nets.layers import SplitDiscriminator
from genbench.regs.base import Regularizer

SIGN_CHUNK = 2 ** 21  # floats in one chunk of the backward's sign tensor


class _PairwiseL1(torch.autograd.Function):
    """(K, N, C) -> (K, N, N) L1 distances: torch.cdist's forward (no (K, N, N, C) tensor kept), and a backward
    written in differentiable ops, so gradient penalties can backpropagate through it twice (cdist's own backward
    cannot). d/dm_i sum_j g_ij ||m_i - m_j||_1 = sum_j (g_ij + g_ji) sign(m_i - m_j)."""

    @staticmethod
    def forward(ctx, m: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(m)
        return torch.cdist(m, m, p=1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (m,) = ctx.saved_tensors
        m = m.detach().contiguous()                                      # d sign = 0 a.e.
        k, n, c = m.shape
        step = max(1, SIGN_CHUNK // (n * n * c))  # kernels per chunk: a (step, N, N, C) sign tensor of ~8 MB
        out = []
        for s in range(0, k, step):  # chunked: ~2.5x faster than one (K, N, N, C) tensor at N = 256 (cache)
            g, mk = grad[s:s + step], m[s:s + step]
            sign = (mk.unsqueeze(2) - mk.unsqueeze(1)).sign_()           # (step, N, N, C)
            out.append(torch.einsum("kij,kijc->kic", g + g.transpose(1, 2), sign))  # sum over j: (step, N, C)
        return torch.cat(out)


def pairwise_l1(m: torch.Tensor) -> torch.Tensor:
    """||m[k, i] - m[k, j]||_1 for every k, i, j: (K, N, C) -> (K, N, N)."""
    return _PairwiseL1.apply(m)


class MinibatchDiscrimination(nn.Module):
    """(N, A) features -> (N, B) closeness o(x_i)_b = sum_{j != i} exp(-||M_{i,b} - M_{j,b}||_1), M = f T."""

    def __init__(self, in_features: int, num_kernels: int = 100, kernel_dim: int = 5, include_self: bool = False):
        super().__init__()
        self.num_kernels, self.kernel_dim, self.include_self = int(num_kernels), int(kernel_dim), bool(include_self)
        self.T = nn.Linear(in_features, self.num_kernels * self.kernel_dim, bias=False)
        nn.init.normal_(self.T.weight, 0.0, 1.0 / math.sqrt(in_features))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = self.T(f).view(len(f), self.num_kernels, self.kernel_dim)   # M_i: (N, B, C)
        c = torch.exp(-pairwise_l1(m.transpose(0, 1)))                   # c_b(x_i, x_j): (B, N, N)
        o = c.sum(2).t()                                                 # sum over j: (N, B)
        # j = i adds c_b(x_i, x_i) = exp(-0) = 1 exactly (and no gradient: sign(0) = 0 in pairwise_l1's backward)
        return o if self.include_self else o - 1.0

    def extra_repr(self) -> str:
        return f"num_kernels={self.num_kernels}, kernel_dim={self.kernel_dim}, include_self={self.include_self}"


class MinibatchHead(nn.Module):
    """D's new final layer: linear([f, o(f)]) with o the minibatch-discrimination features."""

    def __init__(self, in_features: int, num_kernels: int, kernel_dim: int, include_self: bool = False):
        super().__init__()
        self.mbd = MinibatchDiscrimination(in_features, num_kernels, kernel_dim, include_self)
        self.linear = nn.Linear(in_features + num_kernels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.cat([h, self.mbd(h)], dim=1))


def _raw_weight(layer: nn.Module) -> torch.Tensor:
    """A layer's weight before any parametrization (spectral normalization)."""
    if parametrize.is_parametrized(layer, "weight"):
        return layer.parametrizations.weight.original
    return layer.weight


def _spectral_norms(layer: nn.Module) -> list[_SpectralNorm]:
    if not parametrize.is_parametrized(layer, "weight"):
        return []
    return [p for p in layer.parametrizations.weight if isinstance(p, _SpectralNorm)]


class MinibatchDiscriminationReg(Regularizer):
    """reg=minibatch_disc: puts a minibatch-discrimination layer before D's final layer (a D option, no penalty)."""

    name = "minibatch_disc"

    def __init__(self, num_kernels: int = 100, kernel_dim: int = 5, include_self: bool = False):
        if int(num_kernels) < 1 or int(kernel_dim) < 1:
            raise ConfigError(f"reg.minibatch_disc: num_kernels and kernel_dim must be >= 1; "
                              f"got {num_kernels}, {kernel_dim}")
        self.num_kernels, self.kernel_dim, self.include_self = int(num_kernels), int(kernel_dim), bool(include_self)

    def wrap_discriminator(self, discriminator: nn.Module) -> nn.Module:
        if not isinstance(discriminator, SplitDiscriminator):
            raise ConfigError(f"reg=minibatch_disc needs a discriminator split into features and a final layer "
                              f"(mlp, dcgan, resnet32); {type(discriminator).__name__} is not")
        old = discriminator.final_layer()
        if isinstance(old, MinibatchHead):
            return discriminator  # already wrapped
        a = discriminator.feature_dim
        head = MinibatchHead(a, self.num_kernels, self.kernel_dim, self.include_self)
        with torch.no_grad():  # start as D's own final layer: its weights on the features, zeros on o
            head.linear.weight[:, :a].copy_(_raw_weight(old).reshape(1, a))
            head.linear.weight[:, a:].zero_()
            if getattr(old, "bias", None) is not None:
                head.linear.bias.copy_(old.bias.reshape(1))
            else:
                head.linear.bias.zero_()
        head.to(device=_raw_weight(old).device, dtype=_raw_weight(old).dtype)
        for sn in _spectral_norms(old)[:1]:  # reg=[sn, minibatch_disc]: normalize the new layers too
            for layer in (head.mbd.T, head.linear):
                spectral_norm(layer, n_power_iterations=sn.n_power_iterations, eps=sn.eps)
        discriminator.replace_head(head)
        return discriminator
