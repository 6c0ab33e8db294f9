"""The metric sanity studies (genbench/analysis/sanity): each of Heusel et al.'s disturbances is the identity at
level 0 and does what it says at a known level; the findings are checked as stated; `genbench-eval --study` runs
both studies end to end on MNIST (a small classifier) and `genbench-table` prints them again."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import genbench_env, run_genbench, shared_data

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


def test_gaussian_noise_mixes_with_normal_noise_min_max_scaled_to_the_unit_interval():
    x = images()
    noise = torch.randn(x.shape, generator=gen())
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    torch.testing.assert_close(d.gaussian_noise(x, 0.5, gen()), 0.5 * x + 0.5 * noise)
    pure = d.gaussian_noise(x, 1.0, gen())  # all noise: spans exactly [0, 1] (the authors' min-max scaling)
    assert float(pure.min()) == 0.0 and float(pure.max()) == pytest.approx(1.0)


def test_blur_of_a_point_is_the_sampled_gaussian_kernel_and_keeps_the_mass():
    x = torch.zeros(2, 1, 29, 29)
    x[1, 0, 14, 14] = 1.0
    out = d.gaussian_blur(x, 1.0)
    weights = np.exp(-np.arange(-4, 5) ** 2 / 2)  # scipy's kernel: sampled at integers, truncated at 4 std
    kernel = weights / weights.sum()
    np.testing.assert_allclose(out[1, 0, 10:19, 10:19].numpy(), np.outer(kernel, kernel), rtol=1e-5, atol=1e-7)
    assert float(out[1].sum()) == pytest.approx(1.0, abs=1e-5) and float(out[0].abs().max()) == 0.0


def test_blur_repeats_the_edge_as_scikit_images_gaussian_does():
    x = torch.ones(1, 1, 28, 28)  # a constant image stays constant only when the edge is repeated (not zero-padded)
    torch.testing.assert_close(d.gaussian_blur(x, 4.0), x)


def test_black_rectangles_black_out_five_squares_of_side_int_a_times_the_size():
    white = torch.ones(3, 1, 28, 28)
    out = d.black_rectangles(white, 0.25, gen())  # side int(0.25 * 28) = 7: at least one 7x7 square, at most 5
    black = (out == 0).sum(dim=(1, 2, 3))
    assert ((black >= 49) & (black <= 5 * 49)).all()
    one = d.black_rectangles(torch.ones(1, 1, 10, 10), 0.35, gen(), count=1)  # int(3.5) = 3
    assert int((one == 0).sum()) == 9


def test_salt_and_pepper_sets_the_fraction_of_pixels_to_black_or_white():
    x = torch.full((20, 1, 28, 28), 0.5)
    out = d.salt_and_pepper(x, 0.2, gen())
    changed = (out != 0.5).float().mean()
    assert abs(float(changed) - 0.2) < 0.01 and set(out[out != 0.5].unique().tolist()) == {0.0, 1.0}


def test_swirl_reads_each_pixel_from_the_turned_angle():
    """On an image linear in the column, bilinear sampling is exact: inside the centred disc the output is
    c0 + rho cos(phi +- a exp(-rho / (25 ln 2 / 5))), one sign per image; the kept border is the input."""
    x = (torch.arange(28.0) / 27).expand(8, 1, 28, 28).contiguous()
    out = d.swirl(x, 2.0, gen())
    rows, cols = np.mgrid[0:28, 0:28]
    rho, phi = np.hypot(rows - 14, cols - 14), np.arctan2(rows - 14, cols - 14)
    border = np.ones((28, 28), bool)
    border[3:24, 3:24] = False  # 3 pixels kept at the top and left, 4 at the bottom and right
    inside = (rho <= 13) & ~border
    turn = 2.0 * np.exp(-rho / (25 * math.log(2) / 5))
    expected = {s: (14 + rho * np.cos(phi + s * turn)) / 27 for s in (-1, 1)}
    signs = []
    for image in out[:, 0].numpy():
        match = [s for s in (-1, 1) if np.allclose(image[inside], expected[s][inside], atol=1e-5)]
        assert len(match) == 1
        signs.append(match[0])
    assert set(signs) == {-1, 1}  # both directions among 8 images (this seed)
    np.testing.assert_array_equal(out[:, 0].numpy()[:, border], x[:, 0].numpy()[:, border])


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


def test_is_with_pool3_only_inception_weights_is_one_line_naming_the_way_out(tmp_path, mnist_root):
    weights = shared_data() / "inception" / "pt_inception-2015-12-05_pool3_nofc.pth"
    if not weights.is_file():
        pytest.skip(f"the pool3-only Inception weights are not at {weights}")
    env = genbench_env(GENBENCH_DATA=str(mnist_root), GENBENCH_CACHE=str(tmp_path / "cache"))
    proc = run_genbench(["--study", "heusel2017", "eval.extractor=inception", f"eval.inception.weights={weights}",
                         "eval.n=20", "progress.mode=off"], tmp_path, exe="genbench-eval", env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-2000:]
    assert "genbench-eval: error:" in proc.stderr and "metrics=[fid]" in proc.stderr
