"""Several processes (DDP ranks): who this process is, its share of a global draw, and the few collectives
genbench needs besides Lightning's gradient all-reduce.

The rule that makes a run independent of its world size: every rank holds the same random state (all are
seeded alike and draw alike), every random draw is made for the *global* batch and each rank keeps its own
rows (`local_rows`), and `dataset.batch_size` is the global batch. So W ranks x B/W rows see the same data
and noise as one rank x B rows, and rank 0's checkpoint (its RNG states) resumes every rank exactly.

Decisions that every rank must take together (stop on a signal, a NaN on any rank, save the best checkpoint)
go through `agree_any`/`agree_all`; evaluation features go to rank 0 through `gather_to_rank0`. These use a
CPU (gloo) group beside the training backend, so they never wait on a GPU stream.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.distributed as dist

_CONTROL = None  # the gloo group for control messages, made once per process group


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def env_rank() -> int:
    """This process's rank from its launcher's environment (known before any process group exists)."""
    for key in ("RANK", "SLURM_PROCID", "SUBMITIT_LOCAL_GLOBALID"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def shard(n: int) -> slice:
    """The rows of n global rows this rank keeps: contiguous, rank r takes [r*n//W, (r+1)*n//W)."""
    w, r = world_size(), rank()
    return slice(r * n // w, (r + 1) * n // w)


def local_rows(draw: Callable[[int], torch.Tensor], n_local: int) -> torch.Tensor:
    """`draw(n_global)` for the global batch (n_local rows per rank), this rank's rows of it."""
    w = world_size()
    if w == 1:
        return draw(n_local)
    r = rank()
    return draw(n_local * w)[r * n_local:(r + 1) * n_local]


def randn_like(x: torch.Tensor) -> torch.Tensor:
    """N(0, 1) noise shaped like the local batch `x`: this rank's rows of one draw for the global batch."""
    return local_rows(lambda n: torch.randn((n, *x.shape[1:]), device=x.device, dtype=x.dtype), len(x))


def rand_like(x: torch.Tensor) -> torch.Tensor:
    """U[0, 1) noise shaped like the local batch `x` (see randn_like)."""
    return local_rows(lambda n: torch.rand((n, *x.shape[1:]), device=x.device, dtype=x.dtype), len(x))


def rand_rows(x: torch.Tensor, *, dims: int | None = None) -> torch.Tensor:
    """One U[0, 1) number per row of `x`, shaped (len(x), 1, ..., 1) with x.dim() (or `dims`) dimensions."""
    ones = [1] * ((dims or x.dim()) - 1)
    return local_rows(lambda n: torch.rand((n, *ones), device=x.device, dtype=x.dtype), len(x))


def _control():
    global _CONTROL
    if _CONTROL is None:
        _CONTROL = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD
    return _CONTROL


def reset() -> None:
    """Forget the control group (the process group was destroyed)."""
    global _CONTROL
    _CONTROL = None


def agree_any(flag: bool) -> bool:
    """True on every rank when `flag` is True on any rank (a collective: every rank must call it)."""
    if not active():
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_control())
    return bool(t.item())


def agree_all(flag: bool) -> bool:
    """True on every rank when `flag` is True on every rank."""
    return not agree_any(not flag)


def broadcast_from_rank0(obj):
    """Rank 0's `obj` on every rank (a collective)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, group=_control())
    return box[0]


def gather_to_rank0(obj) -> list | None:
    """Every rank's `obj` (CPU tensors, dicts of them, numbers) in rank order on rank 0; None elsewhere."""
    if not active():
        return [obj]
    out = [None] * world_size() if rank() == 0 else None
    dist.gather_object(obj, out, dst=0, group=_control())
    return out


def concat(parts: list):
    """Concatenate gathered shards: tensors along rows, dicts key by key (None values stay None)."""
    first = parts[0]
    if isinstance(first, dict):
        return {k: concat([p[k] for p in parts]) if first[k] is not None else None for k in first}
    return torch.cat(parts)


def mean_over_ranks(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The mean over ranks of each (scalar) value, in one all-reduce: logged losses are the global batch's."""
    if not active() or not values:
        return values
    keys = sorted(values)
    stacked = torch.stack([values[k].float().reshape(()) for k in keys])
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    return dict(zip(keys, (stacked / world_size()).unbind(), strict=True))


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Rank 0's buffers (batch-norm running statistics) on every rank, so every rank samples the same network."""
    if not active():
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=0)
