"""The Dirac-GAN test-bed and Mescheder et al. 2018's study, through the real CLI and the real GANModule:
trajectories against the paper's update rules at every step, verdicts of the whole sweep against the paper's
findings, genbench-table, the Jacobian's eigenvalues with R1 against the closed form, and the trained vector
field against each method's field.

The fields below are the paper's, in its notation (Mescheder, Geiger & Nowozin 2018, "Which Training Methods
for GANs do actually Converge?", Sec. 2-3; the numbers those of the authors' notebook, LMescheder/GAN_stability
notebooks/diracgan: h = 0.2, start (1, 1), 500 steps, WGAN clip 1, WGAN-GP gamma 0.7 with g0 = 1, R1/R2 and
NSGAN + R1 gamma 0.3, consensus gamma 1, instance noise std 0.7): L(theta, psi) = f(psi theta) + f(0),
f(t) = -log(1 + exp(-t)), v = (-dL/dtheta, dL/dpsi), a step w <- w + h v(w). genbench's theta and psi are the
paper's (genbench/nets/dirac.py)."""

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
from genbench.analysis.dirac.metric import verdict

METHODS = ["gan", "nsgan", "wgan", "wgan_gp", "instance_noise", "r1", "r2", "consensus", "nsgan_r1"]
CONVERGES = {"gan": False, "nsgan": False, "wgan": False, "wgan_gp": False, "instance_noise": True,
             "r1": True, "r2": True, "consensus": True, "nsgan_r1": True}
SCHEMES = {"simultaneous": 0, "alternating": 1, "alternating5": 5}  # n_d of alternating GD; 0: simultaneous
DETERMINISTIC = [m for m in METHODS if m != "instance_noise"]
H, STEPS, START = 0.2, 500, (1.0, 1.0)


def build(*overrides: str):
    from genbench.runs.train import build_module

    with initialize_config_module("genbench.conf", version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    return build_module(cfg, (1,)), cfg


# ------------------------------------------------------------------------------ the paper's fields


def sig(t):
    return 1.0 / (1.0 + np.exp(-t))


def fp(t):
    """f'(t) for f(t) = -log(1 + exp(-t))."""
    return sig(-t)


def fpp(t):
    """f''(t)."""
    return -sig(t) * sig(-t)


def gauss_expect(f, std: float, order: int = 120) -> float:
    """E[f(std * eps)], eps ~ N(0, 1), by Gauss-Hermite quadrature (probabilists')."""
    x, w = np.polynomial.hermite_e.hermegauss(order)
    return float((w * f(std * x)).sum() / w.sum())


def gan_field(t, p):
    return np.array([-p * fp(p * t), t * fp(p * t)])


def nsgan_field(t, p):
    return np.array([-p * fp(-p * t), t * fp(p * t)])


def consensus_field(t, p, gamma: float = 1.0, second: float = 1.0) -> np.ndarray:
    """v - gamma * grad(||v||^2 / 2) for the GAN's v, ||v||^2 / 2 = (theta^2 + psi^2) f'(psi theta)^2 / 2.
    second = 1: the exact gradient (genbench's); 0.5: the notebook's GAN_Consensus, whose term in f'' is half."""
    a, b, r2 = fp(p * t), fpp(p * t), t * t + p * p
    grad = np.array([t * a * a + second * p * r2 * a * b, p * a * a + second * t * r2 * a * b])
    return gan_field(t, p) - gamma * grad


def analytic(method: str, t: float, p: float) -> np.ndarray:
    if method == "gan":
        return gan_field(t, p)
    if method == "nsgan":
        return nsgan_field(t, p)
    if method == "wgan":  # psi is clipped to [-1, 1] after every step (clip)
        return np.array([-p, t])
    if method == "wgan_gp":  # gamma/2 (|grad_x D| - g0)^2 with grad_x D = psi everywhere
        return np.array([-p, t - 0.7 * (abs(p) - 1.0) * np.sign(p)])
    if method == "instance_noise":  # the expectation over the noise on both of D's inputs
        s = 0.7
        g_theta = gauss_expect(lambda e: -p * fp(p * (t + e)), s)
        d_psi = gauss_expect(lambda e: (t + e) * fp(p * (t + e)), s) - gauss_expect(lambda e: e * fp(-p * e), s)
        return np.array([g_theta, d_psi])
    if method in ("r1", "r2"):  # gamma/2 psi^2 on real or fake data alike: grad_x D = psi
        return gan_field(t, p) - np.array([0.0, 0.3 * p])
    if method == "nsgan_r1":
        return nsgan_field(t, p) - np.array([0.0, 0.3 * p])
    if method == "consensus":
        return consensus_field(t, p)
    raise KeyError(method)


def clip(method: str, w: np.ndarray) -> np.ndarray:
    """The projection after every step: WGAN's weight clipping, bound 1."""
    if method == "wgan":
        w[1] = min(max(w[1], -1.0), 1.0)
    return w


def reference(method: str, n_d: int, field=None) -> np.ndarray:
    """The 501 points (start and after each generator step) of the paper's update rule with step h:
    n_d = 0 simultaneous GD; else alternating GD as in the notebook: G steps, then D takes n_d steps."""
    field = field or (lambda t, p: analytic(method, t, p))
    w = clip(method, np.array(START))
    out = [w.copy()]
    for _ in range(STEPS):
        if n_d == 0:
            w = clip(method, w + H * field(*w))
        else:
            w[0] += H * field(*w)[0]
            w = clip(method, w)
            for _ in range(n_d):
                w[1] += H * field(*w)[1]
                w = clip(method, w)
        out.append(w.copy())
    return np.array(out)


@pytest.mark.parametrize("method", METHODS)
def test_trained_field_equals_the_papers_field_at_random_points(method):
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
    np.testing.assert_allclose(dirac.jacobian(module).numpy(), [[0, -0.5], [0.5, 0]], atol=1e-12)


# ------------------------------------------------------------------------------------- the whole study


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dirac")
    sweep = root / "sweep"
    # a coarser arrow grid in the portraits keeps the test fast; it changes no number
    proc = run_genbench(["-m", "experiment=mescheder2018/dirac_methods", "logger=none", f"hydra.sweep.dir={sweep}",
                         "metrics.dirac.grid=9"], cwd=root, timeout=1800)
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


@pytest.mark.parametrize("scheme", SCHEMES)
def test_trajectories_equal_the_papers_update_rule_at_every_step(study, scheme):
    """Every deterministic method: genbench's trajectory.csv is the paper's field integrated with the paper's
    scheme, point for point over all 500 steps (both in float64)."""
    found = jobs(study)
    for method in DETERMINISTIC:
        got = trajectory(found[method, scheme])
        assert list(got[:, 0]) == list(range(STEPS + 1))
        np.testing.assert_allclose(got[:, 1:], reference(method, SCHEMES[scheme]), rtol=1e-9, atol=1e-9,
                                   err_msg=f"{method}, {scheme}")


def test_consensus_verdicts_with_the_exact_term_and_with_the_notebooks():
    """genbench's consensus term is the exact gradient of ||v||^2 / 2; the notebook's halves its f'' part.
    Both converge under simultaneous GD and alternating GD with one D step (the schemes the paper covers);
    with 5 D steps per G step the exact term spirals out and the notebook's converges (docs/dirac-gan.md)."""
    def converged(second: float, n_d: int) -> bool:
        points = reference("consensus", n_d, field=lambda t, p: consensus_field(t, p, second=second))
        return bool(verdict(list(np.hypot(points[:, 0], points[:, 1])))[0])

    assert [converged(1.0, n_d) for n_d in (0, 1, 5)] == [True, True, False]
    assert [converged(0.5, n_d) for n_d in (0, 1, 5)] == [True, True, True]


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


def test_bad_order_is_a_config_error(tmp_path):
    proc = run_genbench(["train.order=last", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("genbench: error:") == 1
    assert "train.order='last'" in proc.stderr and "g_first" in proc.stderr


@pytest.mark.parametrize("order", ["d_first", "g_first"])
def test_order_sets_who_opens_an_alternating_cycle(tmp_path, order):
    """The Dirac-GAN's WGAN (v = (-psi, theta), no clipping) with 3 D steps per G step, against the rule by hand."""
    run = tmp_path / "run"
    proc = run_genbench(["model=dirac_gan", "loss=wasserstein", f"train.order={order}", "model.n_critic=3",
                         "train.max_steps=4", "eval.every=4", "logger=none", "metrics.dirac.grid=3",
                         f"hydra.run.dir={run}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    t, p, expected = 1.0, 1.0, [(1.0, 1.0)]
    for _ in range(4):
        if order == "g_first":
            t -= H * p
        for _ in range(3):
            p += H * t
        if order == "d_first":
            t -= H * p
        expected.append((t, p))
    np.testing.assert_allclose(trajectory(run)[:, 1:], expected, rtol=0, atol=1e-12)
