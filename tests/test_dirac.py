"""The Dirac-GAN test-bed and Mescheder et al. 2018's study, through the real CLI and the real GANModule:
verdicts of the whole sweep against the paper's findings, genbench-table, the Jacobian's eigenvalues with
R1 against the closed form, and the trained vector field against each method's analytic field.

Sign convention (genbench/analysis/dirac/study.py): v = -(dL_G/dtheta, dL_D/dpsi), the direction gradient descent moves
(theta, psi); genbench's D is positive on real data, so its psi is the paper's -psi."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import read_json, run_genbench
from hydra import compose, initialize_config_module

from genbench.analysis.dirac import study as dirac

METHODS = ["gan", "nsgan", "wgan", "wgan_gp", "instance_noise", "r1", "r2", "consensus", "nsgan_r1"]
CONVERGES = {"gan": False, "nsgan": False, "wgan": False, "wgan_gp": False, "instance_noise": True,
             "r1": True, "r2": True, "consensus": True, "nsgan_r1": True}
H = 0.2


def build(*overrides: str):
    from genbench.runs.train import build_module

    with initialize_config_module("genbench.conf", version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    return build_module(cfg, (1,)), cfg


# ------------------------------------------------------------------------------------ analytic fields


def sig(t):
    return 1.0 / (1.0 + np.exp(-t))


def gauss_expect(f, std: float, order: int = 120) -> float:
    """E[f(std * eps)], eps ~ N(0, 1), by Gauss-Hermite quadrature (probabilists')."""
    x, w = np.polynomial.hermite_e.hermegauss(order)
    return float((w * f(std * x)).sum() / w.sum())


def gan_field(t, p):
    return np.array([p * sig(p * t), -t * sig(p * t)])


def nsgan_field(t, p):
    return np.array([p * sig(-p * t), -t * sig(p * t)])


def analytic(method: str, t: float, p: float) -> np.ndarray:
    if method == "gan":
        return gan_field(t, p)
    if method == "nsgan":
        return nsgan_field(t, p)
    if method == "wgan":
        return np.array([p, -t])
    if method == "wgan_gp":  # lambda (|psi| - 1)^2 on interpolates, where grad_x D = psi everywhere
        return np.array([p, -t - 2 * 0.7 * (abs(p) - 1) * np.sign(p)])
    if method == "instance_noise":  # the expectation over the noise on both D inputs
        s = 0.7
        d_psi = gauss_expect(lambda e: -e * sig(-p * e), s) + gauss_expect(lambda e: (t + e) * sig(p * (t + e)), s)
        g_theta = gauss_expect(lambda e: p * sig(p * (t + e)), s)
        return np.array([g_theta, -d_psi])
    if method in ("r1", "r2"):  # gamma/2 psi^2 on real or fake data alike: grad_x D = psi
        return gan_field(t, p) - np.array([0.0, 0.3 * p])
    if method == "nsgan_r1":
        return nsgan_field(t, p) - np.array([0.0, 0.3 * p])
    if method == "consensus":  # v - gamma * grad(1/2 ||v||^2), the gradient by central differences
        def energy(w):
            return 0.5 * float((gan_field(*w) ** 2).sum())
        eps, w = 1e-5, np.array([t, p])
        grad = np.array([(energy(w + eps * e) - energy(w - eps * e)) / (2 * eps) for e in np.eye(2)])
        return gan_field(t, p) - 1.0 * grad
    raise KeyError(method)


@pytest.mark.parametrize("method", METHODS)
def test_trained_field_equals_the_analytic_field_at_random_points(method):
    module, _ = build(f"experiment=mescheder2018/{method}")
    rng = np.random.default_rng(METHODS.index(method))
    for t, p in rng.uniform(-2, 2, size=(5, 2)):
        got = dirac.field(module, torch.tensor([t, p], dtype=torch.float64)).numpy()
        np.testing.assert_allclose(got, analytic(method, t, p), atol=1e-6, rtol=0, err_msg=f"{method} at {(t, p)}")


@pytest.mark.parametrize("gamma", [0.1, 0.3, 0.5, 0.99, 1.0, 1.5, 3.0])
def test_r1_eigenvalues_at_equilibrium_match_the_closed_form(gamma):
    module, _ = build("experiment=mescheder2018/r1", f"reg.r1.weight={gamma}")
    f0 = 0.5  # f'(0) of the GAN's f(t) = -log(1 + exp(-t))
    root = complex(gamma ** 2 / 4 - f0 ** 2) ** 0.5
    expected = sorted([-gamma / 2 + root, -gamma / 2 - root], key=lambda c: (-c.imag, -c.real))
    got = dirac.eigenvalues(module)
    for g, e in zip(got, expected, strict=True):
        assert abs(g - e) < 1e-6, (gamma, got, expected)
    assert all(abs(g.imag) < 1e-6 for g in got) == (gamma >= 1)  # complex below the critical gamma = 1


def test_unregularized_gan_jacobian_is_a_pure_rotation():
    module, _ = build("experiment=mescheder2018/gan")
    np.testing.assert_allclose(dirac.jacobian(module).numpy(), [[0, 0.5], [-0.5, 0]], atol=1e-12)


# ------------------------------------------------------------------------------------- the whole study


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dirac")
    sweep = root / "sweep"
    # a coarser arrow grid in the portraits keeps the test fast; it changes no number
    proc = run_genbench(["-m", "experiment=mescheder2018/dirac_methods", f"hydra.sweep.dir={sweep}",
                         "metrics.dirac.grid=9"], cwd=root, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sweep


def jobs(sweep: Path) -> dict[tuple[str, str], Path]:
    import yaml

    out = {}
    for job in sorted(p for p in sweep.iterdir() if (p / ".hydra").is_dir()):
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        method = next(o.split("=")[1] for o in overrides if o.startswith("experiment/mescheder2018@"))
        scheme = next(o.split("=")[1] for o in overrides if o.startswith("experiment/mescheder2018/scheme@"))
        out[method, scheme] = job
    return out


def trajectory(job: Path) -> np.ndarray:
    with open(job / "trajectory.csv") as f:
        rows = list(csv.DictReader(f))
    return np.array([[float(r["step"]), float(r["theta"]), float(r["psi"])] for r in rows])


def test_study_runs_every_method_under_every_scheme(study):
    found = jobs(study)
    assert set(found) == {(m, s) for m in METHODS for s in ("simultaneous", "alternating", "alternating5")}
    for job in found.values():
        assert read_json(job / "run.json")["status"] == "completed"
        assert (job / "phase_portrait.png").stat().st_size > 1000
        assert len(trajectory(job)) == 501  # the start point and every generator step


def test_verdicts_match_the_papers_findings(study):
    checked = 0
    for (method, scheme), job in jobs(study).items():
        import yaml

        published = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())["published"]
        assert published["converges"] == CONVERGES[method]
        final = read_json(job / "metrics.json")["final"]
        if scheme not in published["schemes"]:
            continue  # the paper states nothing for this method under this scheme
        assert final["dirac/converged"] == float(CONVERGES[method]), (method, scheme, final)
        if CONVERGES[method]:
            assert final["dirac/distance"] < 0.05
        checked += 1
    assert checked == 26  # all but consensus with 5 D steps per G step


def test_first_steps_follow_the_analytic_field(study):
    """(theta, psi) after the first generator step = plain gradient steps of size h along the field."""
    for (method, scheme), job in jobs(study).items():
        if method == "instance_noise" or scheme == "alternating5":
            continue  # a random field; several D steps
        (_, t0, p0), (_, t1, p1) = trajectory(job)[:2]
        if scheme == "simultaneous":
            v = analytic(method, t0, p0)
            expected = (t0 + H * v[0], p0 + H * v[1])
        else:  # D first, then G against the new D
            p_new = p0 + H * analytic(method, t0, p0)[1]
            if method == "wgan":
                p_new = min(max(p_new, -1.0), 1.0)
            expected = (t0 + H * analytic(method, t0, p_new)[0], p_new)
        if method == "consensus" and scheme == "alternating":
            continue  # G's consensus term sees the new D: covered by the field test
        assert math.isclose(t1, expected[0], abs_tol=1e-5) and math.isclose(p1, expected[1], abs_tol=1e-5), \
            (method, scheme, (t1, p1), expected)


def test_table_prints_verdicts_and_the_paper_and_a_combined_figure(study):
    proc = run_genbench([str(study)], cwd=study, exe="genbench-table")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split(" | ")[0].strip("| "): line for line in proc.stdout.splitlines() if line.startswith("| ")}
    assert "simultaneous GD" in lines["method"] and "paper (Mescheder et al. 2018)" in lines["method"]
    assert lines["GAN"].count("not converged") == 3 and "does not converge" in lines["GAN"]
    assert lines["R1"].count("| converged (") == 3 and "| converges |" in lines["R1"]
    assert "not stated for alternating GD, 5 D steps" in lines["Consensus"]
    assert all(row.rstrip(" |").endswith(("3/3", "2/2")) for key, row in lines.items() if key not in ("method", "---"))
    assert (study / "phase_portraits.png").stat().st_size > 10_000


# ----------------------------------------------------------------------------------- the module options


def test_bad_update_scheme_is_a_config_error(tmp_path):
    proc = run_genbench(["train.updates=sideways", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "train.updates='sideways'" in proc.stderr and "simultaneous" in proc.stderr


def test_simultaneous_updates_and_consensus_train_an_ordinary_gan(tmp_path):
    run = tmp_path / "run"
    proc = run_genbench(["train.updates=simultaneous", "reg=[gp0,consensus]", "model.n_critic=2",
                         "train.max_steps=4", "train.log_every=2", "eval.every=4", "eval.n=200",
                         "logger=none", f"hydra.run.dir={run}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = read_json(run / "metrics.json")["final"]
    assert final["step"] == 4 and math.isfinite(final["reg/consensus"]) and final["reg/consensus"] > 0
