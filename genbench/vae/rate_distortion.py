"""The rate-distortion plane of Alemi et al. 2018 ("Fixing a Broken ELBO"): each trained VAE is a point
(R, D), rate R = KL(q(z|x) || p(z)) and distortion D = -E_q log p(x|z) on held-out data, in nats. Points on one
dashed line of slope -1 have the same ELBO (-ELBO = D + R); beta-VAEs with beta < 1 move to high rate and low
distortion (towards an autoencoder), beta > 1 to low rate (towards posterior collapse, R = 0)."""

from __future__ import annotations

from pathlib import Path

from genbench.plots import save_figure


def rate_distortion_png(points: list[tuple[str, str, float, float]], path: Path, title: str = "") -> None:
    """`points`: (curve, label, rate, distortion); draws them, one curve per `curve` name through its points
    ordered by rate (different models are never joined), and the D + R = const line through each point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted(points, key=lambda p: p[2])
    rates, distortions = [p[2] for p in points], [p[3] for p in points]
    top = max(r + d for r, d in zip(rates, distortions, strict=True))
    fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
    for rate, distortion in zip(rates, distortions, strict=True):
        total = rate + distortion
        ax.plot([0, total], [total, 0], ls="--", lw=0.7, color="0.6", zorder=1)
    curves = list(dict.fromkeys(p[0] for p in points))
    for i, curve in enumerate(curves):
        mine = [p for p in points if p[0] == curve]
        color = f"C{i % 10}"
        ax.plot([p[2] for p in mine], [p[3] for p in mine], "-", color=color, lw=1, zorder=2)
        ax.scatter([p[2] for p in mine], [p[3] for p in mine], color=color, zorder=3,
                   label=curve if len(curves) > 1 and curve else None)
    for _, label, rate, distortion in points:
        ax.annotate(label, (rate, distortion), textcoords="offset points", xytext=(5, 5), fontsize=8)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    ax.set_xlim(0, 1.05 * max(max(rates), 1.0))
    ax.set_ylim(0, 1.05 * max(distortions) if top else 1.0)
    ax.set_xlabel("rate R = KL(q(z|x) || p(z))  [nats]")
    ax.set_ylabel("distortion D = -E log p(x|z)  [nats]")
    ax.set_title(title or "rate-distortion (dashed: D + R = -ELBO = const)")
    save_figure(fig, path)
