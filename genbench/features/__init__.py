"""Feature extractors for the feature-based metrics (FID, KID, IS, PRDC) and the shared feature bank.

- `eval.extractor=inception`: Inception-v3 2015-12-05 (genbench.features.inception), pool3 + logits.
- `eval.extractor=classifier`: a small classifier of the dataset (genbench.features.classifier).

Every metric of one evaluation receives the same samples tensor; `FeatureBank.features` computes the
features once per tensor (keyed by its identity) and the extractor is built once per process. Real
(reference) features are cached on disk per (dataset, split, extractor identity, n) under a hash of that
protocol; the protocol is stored in the file and checked on load, so a file is never reused across protocols.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import weakref
from pathlib import Path

import torch

from genbench.plots import to_uint8
from genbench.runs.run_dir import atomic_write

log = logging.getLogger("genbench")

EXTRACTORS = ("inception", "classifier")
REFERENCE_VERSION = 1  # bump when the reference protocol changes


def default_cache_dir() -> Path:
    return Path(os.environ.get("GENBENCH_CACHE") or Path.home() / ".cache" / "genbench")


class FeatureBank:
    """One extractor (built lazily, once) and the features of the last samples tensor and of the references."""

    def __init__(self, extractor: str, cache_dir: str | Path | None = None, weights: str | None = None,
                 classifier: dict | None = None, split: str = "train"):
        if extractor not in EXTRACTORS:
            raise ValueError(f"eval.extractor={extractor!r}: choose one of {', '.join(EXTRACTORS)}")
        self.kind, self.weights, self.split = extractor, weights, split
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.classifier_args = dict(classifier or {})
        self._extractor = None
        self._last: tuple[weakref.ref, dict] | None = None
        self._refs: dict[str, dict] = {}

    def extractor(self, data):
        if self._extractor is None:
            if self.kind == "inception":
                from genbench.features.inception import InceptionExtractor
                self._extractor = InceptionExtractor(self.weights)
            else:
                from genbench.features.classifier import ClassifierExtractor
                self._extractor = ClassifierExtractor(data.dataset, self.cache_dir, **self.classifier_args)
        return self._extractor

    def features(self, samples: torch.Tensor, data) -> dict:
        """Features of generated samples (model space, [-1, 1]); computed once per samples tensor."""
        if self._last is not None and self._last[0]() is samples:
            return self._last[1]
        feats = self.extractor(data)(to_uint8(samples))
        self._last = (weakref.ref(samples), feats)
        return feats

    def protocol(self, data, n: int) -> dict:
        return {"version": REFERENCE_VERSION, "dataset": getattr(data.dataset, "name", type(data.dataset).__name__),
                "shape": list(data.dataset.shape), "split": self.split, "n": int(n),
                "selection": "first n of randperm(seed 1234)", "quantized": "uint8",
                **self.extractor(data).identity}

    def reference(self, data, n: int) -> dict:
        """Real features of n images of the reference split, from memory, the disk cache, or computed."""
        protocol = self.protocol(data, n)
        text = json.dumps(protocol, sort_keys=True, default=str)
        key = hashlib.sha256(text.encode()).hexdigest()[:20]
        if key in self._refs:
            return self._refs[key]
        path = self.cache_dir / "references" / f"{protocol['dataset']}-{self.split}-{self.kind}-n{n}-{key}.pt"
        ref = None
        if path.is_file():
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if json.dumps(saved.get("protocol"), sort_keys=True, default=str) == text:
                ref = saved
            else:
                log.warning("%s was made under another protocol: recomputing it", path)
        if ref is None:
            real = data.real_samples(n, self.split)
            log.info("computing reference features: %d %s images of %s with %s", n, self.split,
                     protocol["dataset"], self.kind)
            feats = self.extractor(data)(to_uint8(real))
            ref = {"protocol": json.loads(text), **feats}
            atomic_write(path, lambda tmp: torch.save(ref, tmp))
        self._refs[key] = ref
        return ref


_BANKS: dict[tuple, FeatureBank] = {}


def get_bank(extractor: str, cache_dir=None, weights=None, classifier: dict | None = None,
             split: str = "train") -> FeatureBank:
    """The process-wide bank for these settings: metrics with equal settings share features and the network."""
    classifier = dict(classifier or {})
    key = (extractor, str(cache_dir), str(weights), json.dumps(classifier, sort_keys=True, default=str), split)
    if key not in _BANKS:
        _BANKS[key] = FeatureBank(extractor, cache_dir, weights, classifier, split)
    return _BANKS[key]
