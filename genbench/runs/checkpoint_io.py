"""Reading a checkpoint without running code from it.

A `.ckpt` is a pickle: unpickled in full (`torch.load` with weights_only off) it may call any Python function (create
files, start processes). genbench loads every checkpoint with `weights_only=True`: tensors, numbers, strings and
plain containers only, plus the few other types that genbench and Lightning put in a checkpoint (SAFE_GLOBALS).
Anything else, and a truncated or foreign file, is refused with one line.

What a genbench checkpoint holds (saved by `genbench debug=fast` runs of gan, wgan_gp, vae, infogan, dirac_gan,
bgan, reg=lens, model.ema.decay, bf16-mixed): Lightning's `state_dict` (an OrderedDict of tensors), loops,
callbacks and optimizer states (dicts of tensors and numbers), `GenDataModule` and `genbench` (dicts of numbers
and tensors; numpy's random state is stored as a tensor), and `lr_schedulers`, where MultiStepLR keeps its
milestones in a collections.Counter (model.lr_schedule of the VAEs).
"""

from __future__ import annotations

import collections
import contextlib
import pickle
from pathlib import Path

from genbench.errors import GenbenchError

# The only non-tensor, non-container types in a genbench checkpoint. OrderedDict is always allowed by torch.
SAFE_GLOBALS = (collections.Counter,)


class CheckpointError(GenbenchError):
    """A checkpoint that cannot be read safely: truncated, not a checkpoint, or holding foreign objects."""


def allowed_globals():
    """A context in which torch.load(weights_only=True) also takes SAFE_GLOBALS (e.g. around trainer.fit)."""
    import torch.serialization as ts

    if hasattr(ts, "safe_globals"):  # torch >= 2.5: scoped to this load
        return ts.safe_globals(list(SAFE_GLOBALS))
    if hasattr(ts, "add_safe_globals"):  # torch 2.4
        ts.add_safe_globals(list(SAFE_GLOBALS))
    return contextlib.nullcontext()


def _refusal(err: Exception) -> str:
    """The line of torch's weights_only message that names the refused global, else its first line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    named = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
    return (named or lines or [type(err).__name__])[0][:200]


def load_checkpoint(path: Path | str) -> dict:
    """The checkpoint at `path`, loaded on CPU with `weights_only=True`; CheckpointError when it cannot be."""
    import torch

    path = Path(path)
    try:
        with allowed_globals():
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) or "Weights only" in str(err):
            raise CheckpointError(
                f"{path} holds objects genbench never stores ({_refusal(err)}); it was not loaded. Checkpoints "
                "are pickles: load only checkpoints you trust") from None
        raise CheckpointError(f"{path} cannot be read ({type(err).__name__}: {_refusal(err)}): "
                              "truncated or not a checkpoint") from None
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as err:  # truncated zip, empty file, another format
        raise CheckpointError(f"{path} cannot be read ({type(err).__name__}: {_refusal(err)}): "
                              "truncated or not a checkpoint") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"{path} is not a genbench checkpoint (no state_dict)")
    return state
