"""genbench calls public torch only: the gradient norm and the generator's EMA give bitwise the values of the
private fused kernels they replaced (torch._foreach_norm, torch._foreach_lerp_)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from genbench.modules.base import ema_update_, grad_norm

PACKAGE = Path(__file__).resolve().parents[1] / "genbench"


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.BatchNorm1d(64), nn.Linear(64, 2))


def test_no_private_torch_api_in_the_package():
    private = re.compile(r"\btorch\._(?!C\b)[a-z]\w*")
    found = [f"{p.relative_to(PACKAGE)}: {m.group(0)}" for p in PACKAGE.rglob("*.py")
             for m in private.finditer(p.read_text())]
    assert not found


def test_grad_norm_equals_the_fused_norm_and_the_norm_of_all_gradients():
    net = _net()
    net(torch.randn(32, 2)).pow(2).sum().backward()
    net[2].weight.grad = None  # a parameter without a gradient is left out
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    flat = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))
    assert torch.allclose(grad_norm(net), flat, rtol=1e-6)
    if hasattr(torch, "_foreach_norm"):
        assert torch.equal(grad_norm(net), torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
    assert grad_norm(nn.Linear(2, 2)).item() == 0.0  # no gradients yet


def test_ema_update_equals_the_fused_lerp():
    net = _net()
    ema, reference = copy.deepcopy(net), copy.deepcopy(net)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
        for decay in (0.999, 0.5, 0.999):
            ema_update_(list(ema.parameters()), list(net.parameters()), decay)
            pairs = zip(reference.parameters(), net.parameters(), strict=True)
            expected = [r + (1 - decay) * (p - r) for r, p in pairs]
            if hasattr(torch, "_foreach_lerp_"):
                torch._foreach_lerp_(list(reference.parameters()), list(net.parameters()), 1.0 - decay)
                assert all(torch.equal(e, r) for e, r in zip(ema.parameters(), reference.parameters(), strict=True))
            else:
                for r, x in zip(reference.parameters(), expected, strict=True):
                    r.copy_(x)
            assert all(torch.allclose(e, x, atol=1e-6) for e, x in zip(ema.parameters(), expected, strict=True))
        ema_update_(list(ema.parameters()), list(net.parameters()), 0.0)  # before model.ema.start: a copy
    assert all(torch.equal(e, p) for e, p in zip(ema.parameters(), net.parameters(), strict=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: the fused path of grad_norm")
def test_grad_norm_on_the_gpu_equals_the_fused_norm():
    net = _net().cuda()
    net(torch.randn(32, 2, device="cuda")).pow(2).sum().backward()
    grads = [p.grad for p in net.parameters()]
    assert torch.equal(grad_norm(net), torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
