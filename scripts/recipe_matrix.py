"""Every GAN model recipe with each image network family, a few hundred generator steps on MNIST: does the recipe
train there, or blow up? (issue 14.3: a recipe that cannot train on a network must be fixed or refused.)

Each cell is one `genbench` run (`model=<recipe> model.nets.image=<family> dataset=mnist metrics=none`); the
table shows its status and, at the last evaluation, D's and G's losses and gradient norms. A cell is flagged
when the run diverged, a loss is not finite, or D's gradient norm exceeds --blowup (the refused resnet32 +
batch-norm D reached 2,900 within 10 steps; healthy cells stay in the tens).

    python scripts/recipe_matrix.py --steps 200 --width 32          # all recipes x dcgan, resnet32
    python scripts/recipe_matrix.py --models gan,wgan --nets resnet32
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("gan", "gan_minimax", "wgan", "wgan_gp", "sngan", "lsgan", "hinge", "bgan", "mbgan", "infogan")
NETS = ("dcgan", "resnet32")


def run_cell(model: str, net: str, args, root: Path) -> dict:
    out = root / f"{model}-{net}"
    cmd = ["genbench", f"model={model}", f"model.nets.image={net}", "dataset=mnist", "metrics=none", "logger=csv",
           f"train.max_steps={args.steps}", f"eval.every={args.steps}", f"train.log_every={max(1, args.steps // 4)}",
           f"train.sample_every={args.steps}", f"train.checkpoint_every={args.steps}", f"hydra.run.dir={out}",
           f"hardware.threads={args.threads}", "progress.mode=off"]
    if args.width:
        cmd.append(f"model.nets.width={args.width}")
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    cell = {"model": model, "net": net, "seconds": round(time.time() - start, 1)}
    if proc.returncode != 0:
        line = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {**cell, "status": "refused" if proc.returncode == 2 else "failed", "why": line[:160]}
    status = json.loads((out / "run.json").read_text())["status"]
    final = json.loads((out / "metrics.json").read_text())["final"]
    keys = ("loss/d", "loss/g", "grad_norm/d", "grad_norm/g")
    values = {k: final.get(k, math.nan) for k in keys}
    bad = status != "completed" or not all(math.isfinite(v) for v in values.values()) \
        or values["grad_norm/d"] > args.blowup
    return {**cell, "status": status, **values, "flag": "BLOWS UP" if bad else "trains"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--nets", default=",".join(NETS))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--width", type=int, default=None, help="model.nets.width (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--blowup", type=float, default=1000.0, help="D gradient norm that flags a cell")
    parser.add_argument("--json", type=Path, help="also write the cells here")
    args = parser.parse_args(argv)
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        for net in args.nets.split(","):
            for model in args.models.split(","):
                cell = run_cell(model, net, args, Path(tmp))
                cells.append(cell)
                print(json.dumps(cell), file=sys.stderr, flush=True)
    print("| recipe | net | status | loss/d | loss/g | grad_norm/d | grad_norm/g | verdict | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in cells:
        nums = [f"{c[k]:.3g}" if k in c else "-" for k in ("loss/d", "loss/g", "grad_norm/d", "grad_norm/g")]
        print(f"| {c['model']} | {c['net']} | {c['status']} | {' | '.join(nums)} | {c.get('flag', c.get('why', ''))} "
              f"| {c['seconds']} |")
    if args.json:
        args.json.write_text(json.dumps(cells, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
