"""scripts/gpu_check.py's dry path: the same code as on a GPU, tiny sizes on the CPU, one JSON report with every
section's keys, its settings and command, and only finite numbers."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from conftest import run_script, shared_data

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"
SECTIONS = {
    "train_1gpu": {"cases"},
    "overhead": {"rows", "mlp2d", "median_overhead_ms_per_step"},
    "ddp": {"measured", "world_size", "steps_per_s", "steps_per_s_ratio", "throughput_scaling"},
    "inception": {"features_per_s", "gflop_per_image", "measured_peak_tflops", "fraction_of_measured_peak"},
    "fid": {"fid_device", "fid_cpu", "difference"},
}


def numbers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from numbers(v)


def test_dry_path_writes_every_section_with_finite_numbers(tmp_path):
    out = tmp_path / "report.json"
    proc = run_script(SCRIPT, ["--dry", "--out", str(out), "--data", str(shared_data())], tmp_path, timeout=300)
    assert out.is_file(), proc.stdout + proc.stderr
    report = json.loads(out.read_text())  # strict JSON: the script writes with allow_nan=False
    failed = {name: entry["error"] for name, entry in report["sections"].items() if not entry["ok"]}
    assert proc.returncode == 0 and not failed and report["failed"] == [], (failed, proc.stdout[-3000:])
    assert report["device"] == "cpu" and report["dry"] is True
    assert set(report["sections"]) == set(SECTIONS)
    for name, keys in SECTIONS.items():
        entry = report["sections"][name]
        assert entry["command"].startswith("python scripts/gpu_check.py --dry --only " + name), entry["command"]
        assert entry["settings"]["device"] == "cpu" and entry["seconds"] > 0
        assert keys <= set(entry["results"]), (name, sorted(entry["results"]))
    values = list(numbers(report))
    assert values and all(math.isfinite(v) for v in values)
    train = report["sections"]["train_1gpu"]["results"]["cases"]
    assert {(c["net"], c["precision"]) for c in train} == {(n, p) for n in ("dcgan", "sngan")
                                                           for p in ("32-true", "bf16-mixed")}
    assert all(c["plain_median"] > 0 and c["genbench_median"] > 0 for c in train)
    assert report["sections"]["ddp"]["results"]["world_size"] == 2  # two CPU processes (gloo) in the dry path
    assert report["sections"]["inception"]["results"]["features_per_s"] > 0


def test_a_failing_section_is_reported_and_the_others_run(tmp_path):
    out = tmp_path / "report.json"
    args = ["--dry", "--only", "fid,overhead", "--out", str(out), "--data", str(tmp_path / "nowhere")]
    proc = run_script(SCRIPT, args, tmp_path, timeout=120, env={**os.environ, "GENBENCH_GPU_CHECK_FAIL": "overhead"})
    report = json.loads(out.read_text())
    assert proc.returncode == 1 and report["failed"] == ["overhead"], proc.stdout[-2000:]
    assert "injected failure" in report["sections"]["overhead"]["error"]
    fid = report["sections"]["fid"]  # without the files the dry path falls back to random weights and images
    assert fid["ok"] and "random init" in fid["settings"]["weights"] and math.isfinite(fid["results"]["fid_device"])
