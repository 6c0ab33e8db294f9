"""GPU acceptance check: one command, one JSON report.

    python scripts/gpu_check.py                      # on a CUDA machine: a few minutes (target < 6 on one H200)
    python scripts/gpu_check.py --dry                # the same code, tiny sizes, on the CPU (CI runs this)
    python scripts/gpu_check.py --only fid,inception --out fid.json   # some sections only

Sections (each records its settings and the command that reruns it alone; a section that fails records its error
and the others still run; the exit code is 1 when any failed):

train_1gpu  generator steps/s of genbench (Hydra config, GANModule, Lightning Trainer) against the plain PyTorch
            loop of scripts/bench_train.py (imported, not copied) on one device: DCGAN and SNGAN (resnet32, hinge,
            spectral norm, 5 D steps) on 32x32 images, batch 64, at 32-true and bf16-mixed.
overhead    genbench's extra time per generator step (ms/step) against the plain loop: every train_1gpu case,
            plus the ring8 MLP (batch 256), where the fixed per-step cost is most of a step.
ddp         DCGAN through DDP (strategy=ddp, one process per visible GPU, batch 64 per GPU) against the 1-GPU
            steps/s of train_1gpu: the steps/s ratio and the throughput scaling (images/s). With one visible GPU
            it records that scaling was not measured and why. The dry path runs 2 CPU processes (gloo).
inception   Inception-v3 (FID's network) features/s of genbench's extractor at 299x299, and the fraction of the
            device's peak it reaches: features/s x FLOPs per image (counted by scripts/bench_inception.py) / the
            measured dense matmul rate (float32; TF32 on GPUs, as the extractor's convolutions run), and / the
            data-sheet TF32 peak where the GPU is known.
fid         FID between two disjoint real splits (MNIST test images [0, n) and [n, 2n), n = 500) with the
            pool3 weights of ../shared/data/inception, on the device, against the same computation on the CPU
            inside the check: the difference shows what the device's arithmetic (TF32, kernels) does to FID.

Data: --data (default: $GENBENCH_SHARED_DATA, else ../shared/data beside the repository, else ./shared/data)
holds inception/pt_inception-2015-12-05_pool3_nofc.pth and mnist/ (see ../shared/data/SOURCES.md). The dry path
falls back to randomly initialized Inception weights and random images when they are missing (and says so).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train  # noqa: E402  (the benchmark machinery, beside this file)
import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("train_1gpu", "overhead", "ddp", "inception", "fid")
WEIGHTS_FILE = Path("inception") / "pt_inception-2015-12-05_pool3_nofc.pth"
WEIGHTS_SHA256 = "4fdd4e64f664b7ed5260598d17fe7e6da204dda96869eab0ad2e14f405205878"

FID_N = 500  # images per real split; the CPU reference is computed inside the check (about 1,000 CPU forwards)

# Data-sheet dense peaks (TFLOP/s, no sparsity) for the GPUs this check is meant for, SXM parts.
SPEC_PEAK_TFLOPS = {"H200": {"tf32": 494.7, "bf16": 989.4, "fp32": 66.9},
                    "H100": {"tf32": 494.7, "bf16": 989.4, "fp32": 66.9},
                    "A100": {"tf32": 156.0, "bf16": 312.0, "fp32": 19.5}}

# genbench's own DDP setup (find_unused_parameters, gloo or NCCL) applies whenever hardware.devices > 1
DDP_STRATEGY = "ddp"

TRAIN_NETS = {"dcgan": "dcgan32", "sngan": "sngan32"}
PRECISIONS = ("32-true", "bf16-mixed")


# --------------------------------------------------------------------------- sizes
def sizes(dry: bool) -> dict:
    """Everything the two paths differ in: how much work each measurement does."""
    if dry:
        tiny = ("dataset.batch_size=4", "model.nets.width=8")
        return {"train": {"dcgan32": (tiny, 2, 0), "sngan32": (tiny, 1, 0)}, "rounds": 1, "images": 32,
                "mlp2d": (("dataset.batch_size=32",), 5, 0), "ddp": (tiny[1:], 2, 0), "ddp_batch": 4, "ddp_devices": 2,
                "inception_n": 2, "inception_batch": 2, "fid_n": 3, "fid_batch": 3, "peak_s": 0.2,
                "timeout_s": 120}
    return {"train": {"dcgan32": ((), 300, 30), "sngan32": ((), 60, 6)}, "rounds": 3, "images": 4096,
            "mlp2d": ((), 1000, 100), "ddp": ((), 300, 30), "ddp_batch": 64, "ddp_devices": None,
            "inception_n": 5000, "inception_batch": 250, "fid_n": FID_N, "fid_batch": 250, "peak_s": 2.0,
            "timeout_s": 420}


def shared_data(arg: str | None) -> Path:
    """--data when given (even where it holds nothing: the dry path then says so), else the first known place
    that holds the weights."""
    if arg:
        return Path(arg)
    candidates = [os.environ.get("GENBENCH_SHARED_DATA"), REPO.parent / "shared" / "data",
                  REPO / "shared" / "data"]
    for c in candidates:
        if c and (Path(c) / WEIGHTS_FILE).is_file():
            return Path(c)
    return Path(next(c for c in candidates if c))


def bench_args(args, device: str, precision: str, rounds: int, images: int) -> argparse.Namespace:
    """The namespace bench_train's functions read."""
    return argparse.Namespace(steps=None, warmup=None, rounds=rounds, threads=args.threads, retries=0,
                              busy_limit=math.inf, images=images, no_callbacks=False, device=device,
                              precision=precision)


def measured_case(name: str, extra: tuple[str, ...], steps: int, warmup: int) -> bench_train.Case:
    base = bench_train.CASES[name]
    return bench_train.Case(name, (*base.overrides, *extra), steps, warmup)


def slim(result: dict) -> dict:
    """bench_case's result without the CPU-contention fields (NaN for short windows; meaningless on a GPU)."""
    out = {k: v for k, v in result.items() if k not in ("other_cores", "max_other_cores")}
    if result.get("max_other_cores") is not None and math.isfinite(result["max_other_cores"]):
        out["max_other_cores"] = result["max_other_cores"]
    return out


# --------------------------------------------------------------------------- sections
def section_train(ctx: dict) -> tuple[dict, dict]:
    s, args = ctx["sizes"], ctx["args"]
    results, settings = [], {"rounds": s["rounds"], "images": s["images"], "cases": {}}
    for net, case_name in TRAIN_NETS.items():
        extra, steps, warmup = s["train"][case_name]
        case = measured_case(case_name, extra, steps, warmup)
        settings["cases"][net] = {"bench_train_case": case_name, "overrides": list(case.overrides), "steps": steps,
                                  "warmup": warmup}
        for precision in PRECISIONS:
            res = bench_train.bench_case(case, bench_args(args, ctx["device"], precision, s["rounds"], s["images"]))
            results.append({"net": net, "precision": precision, **slim(res)})
            empty_cache()
    ctx["train"] = results
    return settings, {"cases": results}


def section_overhead(ctx: dict) -> tuple[dict, dict]:
    s, args = ctx["sizes"], ctx["args"]
    extra, steps, warmup = s["mlp2d"]
    case = measured_case("mlp2d", extra, steps, warmup)
    mlp = slim(bench_train.bench_case(case, bench_args(args, ctx["device"], "32-true", s["rounds"], s["images"])))
    rows = [{"net": r["net"], "precision": r["precision"], "plain_ms_per_step": 1000 / r["plain_median"],
             "genbench_ms_per_step": 1000 / r["genbench_median"], "overhead_ms_per_step": r["overhead_ms_per_step"],
             "overhead": r["overhead"]} for r in ctx.get("train", [])]
    rows.append({"net": "mlp2d", "precision": "32-true", "plain_ms_per_step": 1000 / mlp["plain_median"],
                 "genbench_ms_per_step": 1000 / mlp["genbench_median"],
                 "overhead_ms_per_step": mlp["overhead_ms_per_step"], "overhead": mlp["overhead"]})
    settings = {"mlp2d": {"overrides": list(case.overrides), "steps": steps, "warmup": warmup, "rounds": s["rounds"]},
                "others": "from train_1gpu (the same measurements)"}
    return settings, {"rows": rows, "mlp2d": mlp,
                      "median_overhead_ms_per_step": float(torch.tensor([r["overhead_ms_per_step"]
                                                                         for r in rows]).median())}


def section_ddp(ctx: dict) -> tuple[dict, dict]:
    s, args = ctx["sizes"], ctx["args"]
    extra, steps, warmup = s["ddp"]
    case = measured_case("dcgan32", extra, steps, warmup)
    if ctx["device"] == "cuda":
        devices, accelerator = torch.cuda.device_count(), "gpu"
    else:
        devices, accelerator = s["ddp_devices"], "cpu"
    extra = (*extra, f"dataset.batch_size={s['ddp_batch'] * max(devices, 1)}")  # the global batch: per device fixed
    settings = {"strategy": DDP_STRATEGY, "accelerator": accelerator, "devices": devices,
                "overrides": list(case.overrides), "steps": steps, "warmup": warmup,
                "batch_per_device": s["ddp_batch"]}
    if accelerator == "gpu" and devices < 2:
        reason = (f"only {devices} CUDA device visible (CUDA_VISIBLE_DEVICES="
                  f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}): DDP scaling needs at least 2")
        return settings, {"measured": False, "reason": reason}
    with tempfile.TemporaryDirectory(prefix="gpu-check-ddp-") as tmp:
        out = Path(tmp) / "ddp.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--ddp-worker", str(out), "--accelerator", accelerator,
               "--devices", str(devices), "--steps", str(steps), "--warmup", str(warmup),
               "--threads", str(1 if accelerator == "cpu" else args.threads), "--images", str(s["images"]),
               *[f"--override={o}" for o in extra]]
        settings["command"] = shlex.join(cmd[1:]).replace(str(out), "<out.json>")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=s["timeout_s"], cwd=tmp)
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"DDP worker exited {proc.returncode}: {(proc.stdout + proc.stderr)[-3000:]}")
        worker = json.loads(out.read_text())
    result = {"measured": True, "world_size": worker["world_size"], "steps_per_s": worker["steps_per_s"]}
    single = next((r for r in ctx.get("train", []) if r["net"] == "dcgan" and r["precision"] == "32-true"), None)
    if single is not None and steps == single["steps"]:
        base = single["genbench_median"]
        result.update(single_device_steps_per_s=base, steps_per_s_ratio=worker["steps_per_s"] / base,
                      throughput_scaling=worker["world_size"] * worker["steps_per_s"] / base)
    else:
        result["note"] = "no 1-device DCGAN fp32 measurement of the same size in this run (train_1gpu skipped)"
    return settings, result


def ddp_worker(args) -> int:
    """One DDP training run of genbench's path (re-launched by Lightning once per rank); rank 0 writes the rate."""
    bench_train.quiet()
    extra = (*args.override, f"hardware.devices={args.devices}", f"hardware.strategy={DDP_STRATEGY}")
    case = measured_case("dcgan32", tuple(extra), args.steps, args.warmup)
    device = "cuda" if args.accelerator == "gpu" else "cpu"
    m = bench_train.run_genbench(case, bench_args(args, device, "32-true", 1, args.images), args.steps, args.warmup)
    rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    if rank == 0:
        world = int(os.environ.get("WORLD_SIZE", args.devices))
        Path(args.ddp_worker).write_text(json.dumps({"world_size": world, "steps_per_s": m.steps_per_s}))
    return 0


def empty_cache() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def inception_net(ctx: dict):
    """genbench's extractor with the pool3 weights; in the dry path randomly initialized ones when missing."""
    from genbench.features.inception import InceptionExtractor, InceptionV3

    path = ctx["data"] / WEIGHTS_FILE
    if path.is_file():
        return InceptionExtractor(path, batch_size=ctx["sizes"]["fid_batch"]), str(path)
    if not ctx["dry"]:
        raise FileNotFoundError(f"{path}: the Inception pool3 weights (../shared/data/SOURCES.md); pass --data")
    ext = InceptionExtractor.__new__(InceptionExtractor)
    ext.net, ext.weights_path = InceptionV3(logits=False).eval().requires_grad_(False), None
    ext.batch_size, ext.channels_last = ctx["sizes"]["fid_batch"], True
    ext.net = ext.net.to(memory_format=torch.channels_last)
    return ext, f"random init ({path} not found; dry path only)"


def real_images(ctx: dict, n: int) -> tuple[torch.Tensor, str]:
    """The first n MNIST test images (uint8 [n, 1, 28, 28]); random ones in the dry path without the files."""
    from genbench.data.idx import MNIST

    root = ctx["data"] / "mnist"
    try:
        return MNIST(str(root), download=False).load("test")[:n], f"MNIST test images, {root}"
    except Exception:
        if not ctx["dry"]:
            raise
        gen = torch.Generator().manual_seed(0)
        return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=gen), "random (dry, no MNIST)"


def device_peak_tflops(device: str, seconds: float) -> float:
    """Measured dense float32 matmul rate (TF32 where the GPU has it, as convolutions use by default)."""
    if device == "cpu":
        from bench_inception import peak_gflops

        return peak_gflops(seconds) / 1e3
    torch.backends.cuda.matmul.allow_tf32 = True
    n = 8192
    a, b = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
    a @ b
    torch.cuda.synchronize()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
        if count % 10 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    return count * 2 * n ** 3 / (time.perf_counter() - start) / 1e12


def section_inception(ctx: dict) -> tuple[dict, dict]:
    from bench_inception import count_flops

    from genbench.features.inception import InceptionV3

    s, device = ctx["sizes"], ctx["device"]
    ext, weights = inception_net(ctx)
    ext.batch_size = s["inception_batch"]
    ext.net = ext.net.to(device)
    images, source = real_images(ctx, s["inception_n"])
    ext(images[:s["inception_batch"]])  # warm-up: cuDNN's algorithm choice, allocations
    sync(device)
    start = time.perf_counter()
    feats = ext(images)
    sync(device)
    rate = len(images) / (time.perf_counter() - start)
    flops = count_flops(InceptionV3(logits=False).eval())
    peak = device_peak_tflops(device, s["peak_s"])
    result = {"features_per_s": rate, "gflop_per_image": flops / 1e9, "measured_peak_tflops": peak,
              "achieved_tflops": rate * flops / 1e12, "fraction_of_measured_peak": rate * flops / (peak * 1e12),
              "floor_ms_per_image": flops / (peak * 1e12) * 1e3, "finite_features": bool(torch.isfinite(feats["pool"])
                                                                                          .all())}
    spec = spec_peak(ctx)
    if spec is not None:
        result.update(spec_tf32_peak_tflops=spec["tf32"], fraction_of_spec_tf32_peak=rate * flops / (spec["tf32"]
                                                                                                      * 1e12))
    settings = {"images": len(images), "source": source, "batch": ext.batch_size, "input": "uint8 28x28 -> 299x299",
                "dtype": "float32 (TF32 convolutions on GPUs: torch's cuDNN default)", "channels_last": True,
                "weights": weights, "peak": "dense float32 matmul (8192^2 on GPUs), TF32 allowed"}
    del ext
    empty_cache()
    return settings, result


def spec_peak(ctx: dict) -> dict | None:
    if ctx["device"] != "cuda":
        return None
    name = torch.cuda.get_device_name(0)
    return next((v for k, v in SPEC_PEAK_TFLOPS.items() if k in name), None)


def fid_low_rank(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID from two feature matrices without a d x d matrix square root, exact for any n (float64):
    with centred features A (n_a x d), B (n_b x d), S1 = A'A / (n_a - 1) and S2 = B'B / (n_b - 1), the eigenvalues
    of S1 S2 are the squared singular values of M = A B' / sqrt((n_a - 1)(n_b - 1)), so Tr (S1 S2)^(1/2) is M's
    nuclear norm: an n_a x n_b SVD instead of scipy's 2048 x 2048 sqrtm (which needs an offset when n < 2048)."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = a - mu_a, b - mu_b
    na, nb = len(a) - 1, len(b) - 1
    trace = float(torch.linalg.svdvals(ca @ cb.T).sum()) / math.sqrt(na * nb)
    value = float((mu_a - mu_b).pow(2).sum() + ca.pow(2).sum() / na + cb.pow(2).sum() / nb) - 2 * trace
    return max(value, 0.0)


def fid_value(ext, device: str, a: torch.Tensor, b: torch.Tensor, protocol: bool) -> dict:
    """FID of two image splits through `ext` on `device`: the exact low-rank value, and genbench's metric code
    (scipy sqrtm, genbench.metrics.fid) when `protocol`."""
    from genbench.metrics.fid import fid_from_features

    ext.net = ext.net.to(device)
    fa, fb = ext(a)["pool"], ext(b)["pool"]
    out = {"fid": fid_low_rank(fa, fb)}
    if protocol:
        out["fid_sqrtm"] = fid_from_features(fa, fb)
    return out


def section_fid(ctx: dict) -> tuple[dict, dict]:
    s, device = ctx["sizes"], ctx["device"]
    n = s["fid_n"]
    ext, weights = inception_net(ctx)
    images, source = real_images(ctx, 2 * n)
    a, b = images[:n], images[n:2 * n]
    protocol = not ctx["dry"]  # two 2048 x 2048 sqrtm per value: about a minute on 2 CPU cores
    dev = fid_value(ext, device, a, b, protocol)
    value = dev["fid"]
    result = {"fid_device": value}
    if protocol:
        result["fid_device_sqrtm"] = dev["fid_sqrtm"]
    if device == "cpu":
        result.update(fid_cpu=value, cpu_reference="the device is the CPU: the same computation",
                      difference=0.0)
    else:
        cpu = fid_value(ext, "cpu", a, b, protocol)
        result.update(fid_cpu=cpu["fid"], fid_cpu_sqrtm=cpu["fid_sqrtm"], difference=value - cpu["fid"],
                      relative_difference=(value - cpu["fid"]) / cpu["fid"])
    settings = {"n_per_split": n, "splits": f"{source}: [0, {n}) vs [{n}, {2 * n})", "weights": weights,
                "batch": ext.batch_size,
                "statistics": "float64; fid: exact trace via the SVD of the n x n cross-product (fid_low_rank); "
                              "fid_*_sqrtm: genbench.metrics.fid (scipy sqrtm; not in the dry path)"}
    del ext
    empty_cache()
    return settings, result


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


RUNNERS = {"train_1gpu": section_train, "overhead": section_overhead, "ddp": section_ddp,
           "inception": section_inception, "fid": section_fid}


# --------------------------------------------------------------------------- report
def non_finite(value, path: str = "") -> list[str]:
    """Paths of the non-finite floats in a JSON-like value."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path or "."]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_finite(v, f"{path}.{k}")]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in non_finite(v, f"{path}[{i}]")]
    return []


def as_json(value):
    """A JSON-ready copy: non-finite floats become strings ("nan", "inf"), so the report stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value


def run_section(name: str, ctx: dict) -> dict:
    args = ctx["args"]
    rerun = [*(["--dry"] if ctx["dry"] else []), "--only", name, "--out", f"{name}.json"]
    entry = {"ok": False, "error": None, "seconds": None,
             "command": shlex.join(["python", "scripts/gpu_check.py", *rerun]),
             "settings": {"device": ctx["device"], "threads": args.threads}, "results": None}
    print(f"[gpu_check] {name} ...", flush=True)
    start = time.perf_counter()
    try:
        if name in os.environ.get("GENBENCH_GPU_CHECK_FAIL", "").split(","):  # tests: a section that fails
            raise RuntimeError("injected failure (GENBENCH_GPU_CHECK_FAIL)")
        settings, results = RUNNERS[name](ctx)
        entry["settings"].update(settings)
        bad = non_finite(results)
        entry["results"] = as_json(results)
        if bad:
            raise ValueError(f"non-finite values at {', '.join(bad)}")
        entry["ok"] = True
    except Exception as exc:  # a failed section is reported; the others still run
        entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["traceback"] = traceback.format_exc()[-4000:]
        print(f"[gpu_check] {name} FAILED: {entry['error']}", flush=True)
    entry["seconds"] = time.perf_counter() - start
    print(f"[gpu_check] {name} {'ok' if entry['ok'] else 'failed'} in {entry['seconds']:.1f} s", flush=True)
    return entry


def environment(device: str) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__, "pytorch_lightning": pl.__version__,
           "cuda": torch.version.cuda, "cpus": os.cpu_count(), "machine": platform.machine(),
           "host": platform.node(), "gpus": []}
    if device == "cuda":
        env["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        env["cudnn"] = torch.backends.cudnn.version()
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="the JSON report")
    parser.add_argument("--dry", action="store_true", help="tiny sizes on the CPU (the default without CUDA)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--data", default=None, help="the shared data folder (inception/, mnist/)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: all cores; 1 in the dry path, steadier on a shared machine)")
    # the DDP worker (started by the ddp section; Lightning starts the other ranks with the same arguments)
    parser.add_argument("--ddp-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--accelerator", default="gpu", help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=2048, help=argparse.SUPPRESS)
    parser.add_argument("--override", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ddp_worker:
        return ddp_worker(args)
    bench_train.quiet()
    dry = args.dry or not torch.cuda.is_available()
    device = "cpu" if dry else "cuda"
    if args.threads is None:
        args.threads = 1 if dry else bench_train.default_threads()
    torch.set_num_threads(args.threads)
    ctx = {"args": args, "dry": dry, "device": device, "sizes": sizes(dry), "data": shared_data(args.data)}
    started = time.perf_counter()
    report = {"device": device, "dry": dry, "command": shlex.join(["python", "scripts/gpu_check.py",
                                                                   *(argv if argv is not None else sys.argv[1:])]),
              "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "env": environment(device),
              "data": str(ctx["data"]), "sections": {}}
    print(f"[gpu_check] device {device}{' (dry path: tiny sizes)' if dry else ''}; sections {', '.join(args.only)}",
          flush=True)
    for name in SECTIONS:
        if name in args.only:
            report["sections"][name] = run_section(name, ctx)
    report["failed"] = [name for name, entry in report["sections"].items() if not entry["ok"]]
    report["total_s"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    print(f"[gpu_check] wrote {args.out} in {report['total_s']:.0f} s; "
          + (f"FAILED: {', '.join(report['failed'])}" if report["failed"] else "every section ok"), flush=True)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
