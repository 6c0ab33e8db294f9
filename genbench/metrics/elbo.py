"""`metrics=[elbo]`: a VAE's bounds on `n` held-out images (the test split), in nats per image.

- `elbo/neg_elbo`: D + R, the negative ELBO (headline; lower is better);
- `elbo/rate`: R = KL(q(z|x) || p(z)), closed form, averaged over the images;
- `elbo/distortion`: D = -E_q log p(x|z), over `k` posterior samples per image;
- `elbo/neg_iwae`: minus the IWAE bound with those `k` samples (k = model.k, the training k; for k = 1 it is
  the single-sample estimate of -ELBO); `elbo/iwae_k`: that k;
- `elbo/active_units`: latent dimensions u with Cov_x(E_q[z_u]) > `active_threshold` (0.01; Burda et al. 2015):
  how many dimensions the posterior uses; posterior collapse shows as few active units and R -> 0;
- KL per latent dimension: metrics/kl_per_dim.csv (one row per evaluation) and metrics/kl_per_dim_step_<N>.png.
"""

from __future__ import annotations

import csv
import math

import torch

from genbench.metrics.base import EvalContext
from genbench.metrics.likelihood_base import LikelihoodMetric
from genbench.plots import save_figure


class ELBOMetrics(LikelihoodMetric):
    name = "elbo"
    headline = "elbo/neg_elbo"
    higher_is_better = False

    def __init__(self, n: int = 10000, k: int = 1, split: str = "test", batch_size: int = 500,
                 active_threshold: float = 0.01, seed: int = 0, family: str = "vae"):
        super().__init__(n, split, seed, family)
        self.k, self.batch_size, self.active_threshold = int(k), int(batch_size), float(active_threshold)

    def compute(self, data, context: EvalContext) -> dict[str, float]:
        module = context.module
        target, rng = self.targets(data, module)
        rate, distortion, iwae, means, kl = [], [], [], [], []
        for x in target.split(self.batch_size):
            posterior = module.posterior(x)
            terms = module.terms(x, self.k, rng, posterior)
            rate.append(terms.rate)
            distortion.append(terms.distortion)
            iwae.append(terms.iwae())
            means.append(posterior[0])
            kl.append(terms.kl)
        rate, distortion, iwae = torch.cat(rate), torch.cat(distortion), torch.cat(iwae)
        means, kl_per_dim = torch.cat(means).double(), torch.cat(kl).double().mean(0)
        activity = means.var(0) if len(means) > 1 else torch.zeros_like(kl_per_dim)
        self._write_kl(kl_per_dim.cpu().tolist(), context)
        return {"elbo/neg_elbo": float((rate + distortion).mean()), "elbo/rate": float(rate.mean()),
                "elbo/distortion": float(distortion.mean()), "elbo/neg_iwae": float(-iwae.mean()),
                "elbo/iwae_k": float(self.k),
                "elbo/active_units": float((activity > self.active_threshold).sum())}

    def _write_kl(self, kl: list[float], context: EvalContext) -> None:
        """Append this evaluation's KL per dimension to metrics/kl_per_dim.csv and draw it."""
        if context.output_dir is None:
            return
        context.output_dir.mkdir(parents=True, exist_ok=True)
        path = context.output_dir / "kl_per_dim.csv"
        new = not path.is_file()
        with open(path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["step", *(f"kl_dim_{i}" for i in range(len(kl)))])
            writer.writerow([context.step, *(f"{v:.6g}" for v in kl)])
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(max(4.0, 0.18 * len(kl) + 1.5), 3), dpi=100)
        ax.bar(range(len(kl)), kl, color="tab:blue")
        ax.set_xlabel("latent dimension")
        ax.set_ylabel("KL(q || p) [nats]")
        ax.set_title(f"KL per latent dimension, step {context.step} (total {math.fsum(kl):.2f})")
        save_figure(fig, context.output_dir / f"kl_per_dim_step_{context.step}.png")
