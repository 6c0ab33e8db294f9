"""Smoke test of scripts/bench_train.py: a few steps of the mlp2d case through both paths."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_train.py"


def test_bench_train_prints_a_ratio(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--steps", "5", "--warmup", "2", "--rounds", "1", "--cases", "mlp2d",
         "--threads", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^mlp2d: genbench/plain = \d+\.\d+ \(overhead -?\d+\.\d+%", proc.stdout, re.M), proc.stdout
    result = json.loads(out.read_text())["results"][0]
    assert result["case"] == "mlp2d" and result["steps"] == 5
    assert result["plain_median"] > 0 and result["genbench_median"] > 0


def test_bench_train_times_methods_against_the_ns_gan(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--cases", "none", "--methods", "ns_gan,jacobian_clamp", "--nets", "mlp2d",
         "--steps", "5", "--warmup", "2", "--rounds", "1", "--threads", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=90, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^jacobian_clamp +mlp2d +\d+\.\d+ +\d+\.\d+ +-?\d+\.\d+%", proc.stdout, re.M), proc.stdout
    methods = json.loads(out.read_text())["methods"]
    assert [(m["method"], m["net"]) for m in methods] == [("ns_gan", "mlp2d"), ("jacobian_clamp", "mlp2d"),
                                                          ("conditioning logging", "mlp2d")]
    assert methods[0]["overhead"] == 0.0 and methods[1]["median"] > 0 and 0 <= methods[2]["overhead"] < 1
