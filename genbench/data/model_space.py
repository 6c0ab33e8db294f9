"""The space samples are exchanged in: generators emit images in [-1, 1] and 2-D points as they are, so real
data is mapped there once (uint8 images -> [-1, 1], vectors unchanged) by training and by every metric alike."""

from __future__ import annotations

import torch


def to_model_space(batch: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    if batch.dtype == torch.uint8:
        return batch.to(dtype).div_(127.5).sub_(1.0)
    if batch.dtype == torch.float64:  # float64 data (the Dirac-GAN's) stays float64, e.g. in R1's grad_x D
        return batch
    return batch.to(dtype)
