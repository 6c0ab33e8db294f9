"""Callbacks that act on generator-step schedules: samples, evaluation, checkpoints."""


def on_schedule(module, every: int) -> bool:
    """True right after the generator step that completes a multiple of `every`."""
    return module.stepped_generator and module.g_step % every == 0
