"""R2 (Mescheder et al. 2018): gamma/2 * E_{x ~ G} ||grad D(x)||^2, zero-centred on generated data."""

from __future__ import annotations

from genbench.regs.r1 import R1Penalty


class R2Penalty(R1Penalty):
    name = "r2"
    grad_at = ("fake",)

    def d_penalty(self, discriminator, real, fake, step):
        return 0.5 * self.weight * self.penalty(discriminator, fake)
