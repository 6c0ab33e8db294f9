"""The metric sanity studies (genbench/analysis/sanity): each of Heusel et al.'s disturbances is the identity at
level 0 and does what it says at a known level; the findings are checked as stated; `genbench-eval --study` runs
both studies end to end on MNIST (a small classifier) and `genbench-table` prints them again."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import genbench_env, run_genbench
from scipy import ndimage

from genbench.analysis.sanity import disturbances as d
from genbench.analysis.sanity.studies import heusel_findings


def images(n: int = 6) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1)


@pytest.mark.parametrize("name", list(d.DISTURBANCES))
def test_every_disturbance_is_the_identity_at_level_0(name):
    x = images()
    assert d.LEVELS[name][0] == 0
    torch.testing.assert_close(d.DISTURBANCES[name](x, 0.0, gen(), images()), x)


def test_gaussian_noise_mixes_with_noise_in_the_unit_interval():
    x = images()
    noise = (0.5 + 0.25 * torch.randn(x.shape, generator=gen())).clamp(0, 1)
    torch.testing.assert_close(d.gaussian_noise(x, 0.5, gen()), 0.5 * x + 0.5 * noise)


def test_blur_is_scipys_gaussian_filter_per_image():
    x = images(2)
    expected = ndimage.gaussian_filter(x[1, 0].numpy(), sigma=2.0, mode="reflect")
    np.testing.assert_allclose(d.gaussian_blur(x, 2.0)[1, 0].numpy(), expected, rtol=1e-6, atol=1e-6)


def test_black_rectangles_black_out_five_squares_of_the_given_side():
    white = torch.ones(3, 1, 28, 28)
    out = d.black_rectangles(white, 0.25, gen())  # side round(0.25 * 28) = 7: at least one 7x7 square, at most 5
    black = (out == 0).sum(dim=(1, 2, 3))
    assert ((black >= 49) & (black <= 5 * 49)).all()


def test_salt_and_pepper_sets_the_fraction_of_pixels_to_black_or_white():
    x = torch.full((20, 1, 28, 28), 0.5)
    out = d.salt_and_pepper(x, 0.2, gen())
    changed = (out != 0.5).float().mean()
    assert abs(float(changed) - 0.2) < 0.01 and set(out[out != 0.5].unique().tolist()) == {0.0, 1.0}


def test_swirl_keeps_the_centre_and_turns_the_rest():
    x = torch.zeros(1, 1, 29, 29)
    x[0, 0, 14, :] = 1  # a horizontal line through the centre
    out = d.swirl(x, 2.0)
    assert float(out[0, 0, 14, 14]) == pytest.approx(1.0)  # the centre does not move
    assert float((out - x).abs().sum()) > 5  # the line is bent


def test_contamination_replaces_the_given_fraction_of_images():
    x, other = torch.zeros(8, 1, 4, 4), torch.ones(8, 1, 4, 4)
    out = d.contamination(x, 0.25, gen(), other)
    assert int((out.flatten(1).mean(1) == 1).sum()) == 2


def _rows(fid: dict, is_: dict) -> list[dict]:
    return [{"disturbance": k, "level": i, "metrics": {"fid/value": f, "is/mean": s}}
            for k in fid for i, (f, s) in enumerate(zip(fid[k], is_[k], strict=True))]


def test_findings_check_monotone_fid_and_an_is_that_misses_some():
    rows = _rows({"blur": [1, 2, 3], "noise": [1, 5, 9]}, {"blur": [9, 9.5, 9.7], "noise": [9, 8, 7]})
    fid, is_ = heusel_findings(rows)
    assert fid["holds"] and is_["holds"] and is_["detail"] == {"blur": False, "noise": True}
    rows = _rows({"blur": [1, 3, 2]}, {"blur": [9, 8, 7]})
    fid, is_ = heusel_findings(rows)
    assert not fid["holds"] and fid["detail"] == {"blur": False} and not is_["holds"]


SMALL = ["eval.n=200", "eval.classifier.epochs=1", "eval.classifier.train_size=3000", "eval.classifier.width=16",
         "progress.mode=off"]


@pytest.mark.parametrize("study", ["heusel2017", "is_blind_spots"])
def test_a_study_runs_from_one_command_and_genbench_table_prints_it(tmp_path, mnist_root, study):
    env = genbench_env(GENBENCH_DATA=str(mnist_root), GENBENCH_CACHE=str(tmp_path / "cache"))
    proc = run_genbench(["--study", study, *SMALL, "--out", "study"], tmp_path, exe="genbench-eval", env=env,
                        timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "study" / "results.json").read_text())
    assert result["study"] == study and result["protocol"]["feature_extractor"] == "classifier"
    if study == "heusel2017":
        assert {r["disturbance"] for r in result["rows"]} == set(d.DISTURBANCES)
        assert (tmp_path / "study" / "heusel2017.png").stat().st_size > 10_000
        levels_0 = [r["metrics"]["fid/value"] for r in result["rows"] if r["level"] == 0]
        assert max(levels_0) - min(levels_0) < 1e-6  # level 0: the same images for every disturbance
    else:
        real, single, copy = (r["metrics"] for r in result["rows"])
        assert single["birthday/dup_batch_fraction"] == 1.0 and real["birthday/dup_batch_fraction"] < 1.0
        assert copy["fid/value"] < 1e-3 and single["prdc/recall"] < real["prdc/recall"]
    assert "FID" in proc.stdout and ("holds" in proc.stdout or "DOES NOT HOLD" in proc.stdout)
    table = run_genbench([str(tmp_path / "study")], tmp_path, exe="genbench-table")
    assert table.returncode == 0 and table.stdout.splitlines()[0] == proc.stdout.splitlines()[0]


def test_an_unknown_study_is_one_line(tmp_path):
    proc = run_genbench(["--study", "heusel2018"], tmp_path, exe="genbench-eval")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "heusel2017" in proc.stderr and "is_blind_spots" in proc.stderr
