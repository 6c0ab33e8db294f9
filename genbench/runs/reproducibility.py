"""What "same seed, same result" depends on besides the seed, for run.json to state.

CPU kernels split their work among torch's intra-op threads, and a reduction summed in another order rounds
differently: with `hardware.threads: null` torch takes every core, so the same seed on machines with other core
counts gives (slightly) different losses, and the difference grows over training. The same seed reproduces a run
with the same thread count, the same device type (CPU, or the same GPU model and library versions) and the same
world size (hardware.devices x hardware.num_nodes).
"""

from __future__ import annotations


def effective_threads() -> dict[str, int]:
    """The thread counts torch uses now (after genbench applied hardware.threads): intra-op and inter-op."""
    import torch

    return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}


def determinism(cfg) -> dict:
    """What the same seed's result depends on in this process: run.json's `reproducibility` entry."""
    import os

    hw = cfg.hardware
    return {
        "threads": effective_threads(),
        "threads_requested": hw.get("threads"),  # null: torch's default, every core of the machine
        "cpu_count": os.cpu_count(),
        "accelerator": str(hw.get("accelerator")),
        "world_size": int(hw.get("devices") or 1) * int(hw.get("num_nodes") or 1),
    }
