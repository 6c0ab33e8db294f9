"""Smoke test of scripts/bench_train.py: a few steps of the mlp2d case through both paths."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import run_script

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_train.py"


def test_bench_train_prints_a_ratio(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_script(SCRIPT, ["--steps", "7", "--window", "3", "--warmup", "2", "--rounds", "1", "--cases", "mlp2d",
                               "--threads", "1", "--json", str(out)], tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^mlp2d: genbench/plain = \d+\.\d+ \(overhead -?\d+\.\d+%\); extra -?\d+\.\d+ ms per generator "
                     r"step \(95% interval -?\d+\.\d+ to -?\d+\.\d+\); medians of 2 paired windows of 3 steps",
                     proc.stdout, re.M), proc.stdout
    assert re.search(r"^target \(mlp2d extra <= 0.2 ms/step\): (met|NOT met)", proc.stdout, re.M), proc.stdout
    result = json.loads(out.read_text())["results"][0]
    assert result["case"] == "mlp2d" and result["steps"] == 6 and result["windows"] == 2  # whole windows only
    assert len(result["window_ms"]["plain"]) == len(result["window_ms"]["genbench"]) == 2
    assert result["plain_median"] > 0 and result["genbench_median"] > 0
    # the plain loop ran between genbench's windows on its own random stream: both ended on the same weights
    assert result["same_trajectory"], proc.stdout


def test_bench_train_times_methods_against_the_ns_gan(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_script(SCRIPT, ["--cases", "none", "--methods", "ns_gan,jacobian_clamp", "--nets", "mlp2d", "--steps",
                               "5", "--warmup", "2", "--rounds", "1", "--threads", "1", "--json", str(out)], tmp_path,
                      timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^jacobian_clamp +mlp2d +\d+\.\d+ +\d+\.\d+ +-?\d+\.\d+%", proc.stdout, re.M), proc.stdout
    methods = json.loads(out.read_text())["methods"]
    assert [(m["method"], m["net"]) for m in methods] == [("ns_gan", "mlp2d"), ("jacobian_clamp", "mlp2d"),
                                                          ("conditioning logging", "mlp2d")]
    assert methods[0]["overhead"] == 0.0 and methods[1]["median"] > 0 and 0 <= methods[2]["overhead"] < 1


def test_bench_vae_prints_ratios_and_checks_both_paths(tmp_path):
    out = tmp_path / "bench_vae.json"
    script = SCRIPT.parent / "bench_vae.py"
    proc = run_script(script, ["--cases", "vae", "--steps", "4", "--warmup", "1", "--rounds", "1", "--threads", "1",
                               "--nll-k", "20", "--nll-n", "10", "--retries", "0", "--json", str(out)], tmp_path,
                      timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    train, nll = result["training"][0], result["nll"]
    assert train["case"] == "vae" and train["plain_steps_per_s"] > 0 and train["genbench_steps_per_s"] > 0
    assert train["same_trajectory"] and nll["same_estimate"] and nll["plain_per_s"] > 0 and nll["ratio"] > 0
    assert "same computation: both paths ended every measurement on the same weights" in proc.stdout
