"""The two metric sanity studies, run on real images with genbench's own metric classes (the ones runs use):

heusel2017      every disturbance of disturbances.py at each level applied to `eval.n` test images, scored
                against the reference split (`eval.split`, default train) by FID and IS. Finding checked: FID rises
                with every disturbance (Heusel et al. 2017; the seed); IS falls only for some (the seed: only for
                contamination with another dataset).
is_blind_spots  the test set, one clearly identifiable image per class (the test image the extractor's classifier
                is surest of, repeated to `eval.n`), and a copy of the reference images themselves (memorization),
                scored by IS, FID, precision/recall and the birthday test. Findings checked: one image per class
                scores an IS at least the test set's (the seed), the copy scores as well as real data.

Results go to <out>/results.json and a figure; `genbench-table <out>` prints the table again."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from genbench.analysis.sanity.disturbances import DISTURBANCES, LEVELS
from genbench.errors import GenbenchError
from genbench.runs.run_dir import RunDir

STUDIES = ("heusel2017", "is_blind_spots")
DEFAULTS = {  # the studies' protocol unless the command line says otherwise
    "heusel2017": ["dataset=mnist", "metrics=[fid,is]", "eval.extractor=classifier", "eval.n=2000"],
    "is_blind_spots": ["dataset=mnist", "metrics=[is,fid,prdc,birthday]", "eval.extractor=classifier",
                       "eval.n=2000"],
}
OTHER = {"mnist": "fashion_mnist", "fashion_mnist": "mnist"}  # the contaminating dataset


def compose(study: str, overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import HydraException

    with initialize_config_module(config_module="genbench.conf", version_base="1.3"):
        try:
            return hydra_compose(config_name="config", overrides=[*DEFAULTS[study], *overrides])
        except HydraException as err:
            from genbench.cli.errors import describe_hydra_error

            raise GenbenchError(describe_hydra_error(err, overrides)) from None


def _setup(cfg):
    """(datamodule, metrics) for the composed config: the metrics prepared, as a run prepares them."""
    from genbench.metrics.choice import choose_for
    from genbench.runs.config_checks import check_config
    from genbench.runs.train import build_datamodule

    check_config(cfg)
    torch.manual_seed(cfg.seed)
    data = build_datamodule(cfg)
    data.setup("fit")
    if not data.is_image:
        raise GenbenchError(f"dataset={cfg.dataset.name} holds vectors: the sanity studies disturb images "
                            "(choose dataset=mnist, fashion_mnist, cifar10 or folder)")
    choice = choose_for(cfg, data, monitored=False)
    try:
        choice.prepare(data)
    except ValueError as err:  # e.g. IS with pool3-only Inception weights: one line, with the study's way out
        raise GenbenchError(f"{err} For FID alone with Inception features: metrics=[fid]") from None
    return data, list(choice.metrics)


def pixels(real: torch.Tensor) -> torch.Tensor:
    """Stored images (uint8 or model space) as floats in [0, 1]."""
    return real.float().div(255) if real.dtype == torch.uint8 else real.float().add(1).div(2)


def score(metrics: list, images01: torch.Tensor, data) -> dict[str, float]:
    samples = images01.clamp(0, 1).mul(2).sub(1)  # model space, as generated samples are
    out: dict[str, float] = {}
    for metric in metrics:
        out.update(metric(samples, data))
    return out


def heusel2017(cfg, out: Path) -> dict:
    data, metrics = _setup(cfg)
    n = cfg.eval.n
    images = pixels(data.real_samples(n, "test"))
    other_name = OTHER.get(cfg.dataset.name)
    other = None
    if other_name is not None:
        from genbench.runs.train import build_datamodule

        other_data = build_datamodule(compose("heusel2017", [f"dataset={other_name}", f"seed={cfg.seed}"]))
        other_data.setup("fit")
        other = pixels(other_data.real_samples(n, "test"))
    rows = []
    from genbench import progress

    names = [d for d in DISTURBANCES if d != "contamination" or other is not None]
    stage = progress.Stage("disturbances", total=sum(len(LEVELS[d]) for d in names), unit="levels")
    with stage:
        for name in names:
            for level in LEVELS[name]:
                gen = torch.Generator().manual_seed(cfg.seed)
                disturbed = DISTURBANCES[name](images, level, gen, other)
                rows.append({"disturbance": name, "level": level, "metrics": score(metrics, disturbed, data)})
                stage.advance()
    findings = heusel_findings(rows)
    result = {"study": "heusel2017", "dataset": cfg.dataset.name, "contaminated_with": other_name,
              "protocol": protocol(cfg, metrics), "rows": rows, "findings": findings,
              "published": {"source": "Heusel et al. 2017 (TTUR), appendix: FID against disturbed images",
                            "finding": "FID rises with every disturbance; IS falls only with contamination "
                                       "(the seed's summary)"}}
    figure = out / "heusel2017.png"
    from genbench.analysis.sanity.plots import disturbance_figure

    disturbance_figure(rows, figure, f"{cfg.dataset.name}, n = {n}, {result['protocol']['feature_extractor']}")
    result["figure"] = figure.name
    return result


def _monotone(values: list[float], rising: bool) -> bool:
    pairs = list(zip(values, values[1:], strict=False))
    return all(b > a for a, b in pairs) if rising else all(b < a for a, b in pairs)


def heusel_findings(rows: list[dict]) -> list[dict]:
    by: dict[str, list[dict]] = {}
    for row in rows:
        by.setdefault(row["disturbance"], []).append(row)
    findings = []
    fid_rises = {d: _monotone([r["metrics"]["fid/value"] for r in rs], True) for d, rs in by.items()}
    findings.append({"claim": "FID rises monotonically with every disturbance", "holds": all(fid_rises.values()),
                     "detail": fid_rises})
    if all("is/mean" in r["metrics"] for r in rows):
        is_falls = {d: _monotone([r["metrics"]["is/mean"] for r in rs], False) for d, rs in by.items()}
        findings.append({"claim": "IS misses some disturbances (does not fall monotonically for all)",
                         "holds": not all(is_falls.values()), "detail": is_falls})
    return findings


def is_blind_spots(cfg, out: Path) -> dict:
    data, metrics = _setup(cfg)
    n = cfg.eval.n
    test = pixels(data.real_samples(n, "test"))
    reference = pixels(data.real_samples(n, cfg.eval.split))
    sets = {"test set (held-out real)": test, "one image per class": one_per_class(test, metrics, data, n),
            f"copy of the reference ({cfg.eval.split}) images": reference}
    rows = [{"set": name, "metrics": score(metrics, images, data)} for name, images in sets.items()]
    findings = []
    real, single, copy = (r["metrics"] for r in rows)
    if "is/mean" in real:
        findings.append({"claim": "one image per class scores an IS at least the test set's",
                         "holds": single["is/mean"] >= real["is/mean"]})
        findings.append({"claim": "a copy of the data scores an IS as high as held-out data (within 5%)",
                         "holds": copy["is/mean"] >= 0.95 * real["is/mean"]})
    if "fid/value" in real:
        findings.append({"claim": "FID tells one image per class from real data", "holds":
                         single["fid/value"] > 2 * real["fid/value"]})
        findings.append({"claim": "FID against the reference rates the memorized copy best (no FID catches it)",
                         "holds": copy["fid/value"] <= real["fid/value"]})
    return {"study": "is_blind_spots", "dataset": cfg.dataset.name, "protocol": protocol(cfg, metrics),
            "rows": rows, "findings": findings,
            "published": {"source": "the seed's evaluation section; Barratt & Sharma 2018",
                          "finding": "one clear image per class can beat real data's IS; memorizing the training "
                                     "set scores as well as real data"}}


def one_per_class(images01: torch.Tensor, metrics: list, data, n: int) -> torch.Tensor:
    """The image of each class the extractor's classifier is surest of, repeated to n images."""
    bank = next((m.bank for m in metrics if hasattr(m, "bank")), None)
    if bank is None:
        raise GenbenchError("is_blind_spots needs a feature metric (is or fid) for its classifier")
    logits = bank.features(images01.mul(2).sub(1), data).get("logits")
    if logits is None:
        raise GenbenchError("the feature extractor has no logits (pool3-only Inception weights): "
                            "use eval.extractor=classifier")
    logits = torch.as_tensor(logits)
    probs = logits.softmax(1)
    label = probs.argmax(1)
    picks = [int(torch.where(label == k, probs[:, k], torch.tensor(-1.0)).argmax()) for k in label.unique().tolist()]
    chosen = images01[picks]
    return chosen.repeat((n + len(picks) - 1) // len(picks), 1, 1, 1)[:n]


def protocol(cfg, metrics: list) -> dict:
    banks = [m.bank for m in metrics if hasattr(m, "bank")]
    return {"dataset": cfg.dataset.name, "n": cfg.eval.n, "reference_split": cfg.eval.split,
            "feature_extractor": banks[0].kind if banks else None, "seed": cfg.seed,
            "metrics": [getattr(m, "name", type(m).__name__) for m in metrics]}


def run(study: str, overrides: list[str], out: Path | None = None) -> tuple[dict, Path]:
    if study not in STUDIES:
        raise GenbenchError(f"--study {study!r} is not a study: choose one of {', '.join(STUDIES)}")
    cfg = compose(study, overrides)
    out = out or Path("outputs") / "studies" / f"{study}-{cfg.dataset.name}"
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    result = heusel2017(cfg, out) if study == "heusel2017" else is_blind_spots(cfg, out)
    result["wall_time_s"] = round(time.time() - start, 1)
    result["overrides"] = overrides
    RunDir.write_json(out / "results.json", result)
    return result, out


def read(folder: Path) -> dict | None:
    """A study's results.json, or None when the folder holds none."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    return result if result.get("study") in STUDIES else None
