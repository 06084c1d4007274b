"""Attribute classifiers: a TorchScript or torch.export network mapping images to per-attribute logits.

    file -> load_network (user_model.py's safe loaders: no pickled Python runs) -> names + declarations
         -> probe forward (checks (N, K) logits) -> AttributeClassifier

The network takes a float32 (N, 3, H, W) batch at its declared input size and value range and returns
(N, K) logits, one per binary attribute (sigmoid(logit) = P(attribute = 1 | image)); (N, K, 1, 1) is
squeezed. Its embedded ganeval.json holds the user_model declarations plus the attribute names:

    {"input_size": [32, 32], "value_range": "unit", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
     "attributes": ["skin_tone", "hat", "glasses", "smiling", "beard", "dark_hair"]}

A file without names needs them given (`--attributes a,b,c`, `attributes=`); names given and embedded
must agree. `save_attribute_classifier` writes such a file (the attr-classifier trainer uses it).

Images reach the network two ways, which agree up to the uint8 rounding of the resize:
* `logits(images_uint8)`: resized as the datasets registry resizes (bilinear, antialiased, rounded to
  uint8; what the trainer trained on), then mapped to the declared range -- for audits of image sets;
* `logits_from_unit(x)`: float pixels in [0, 1], resized in float -- differentiable, for gradient steps
  on a generator's latents (ganeval.latent_edit).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganeval.errors import BadInputError
from ganeval.extractors.base import ExtractorOptions
from ganeval.extractors.user_model import (
    DECLARATION_KEYS, FORMATS, PROBE_BATCH, Declarations, load_network, read_declarations, write_network,
)

__all__ = [
    "ATTRIBUTES_KEY", "AttributeClassifier", "load_attribute_classifier", "parse_attribute_names",
    "save_attribute_classifier",
]

ATTRIBUTES_KEY = "attributes"
CLASSIFIER_KEYS = (*DECLARATION_KEYS, ATTRIBUTES_KEY)
LABEL = "attribute classifier"
BATCH = 256

MSG_NO_NAMES = ("{path} does not name its attributes; pass --attributes a,b,c (one name per logit, in order) or "
                "embed them with ganeval.bias.classifier.save_attribute_classifier")
MSG_NAME_CONFLICT = "{path} names its attributes {embedded} but --attributes gave {given}; drop --attributes"
MSG_BAD_SHAPE = ("{path}: an attribute classifier must return float logits (N, K), one per attribute; for a batch "
                 "{probe} it returned {got}, but {k} attribute names were given ({names})")
MSG_NOT_FINITE = "{path}: the attribute classifier returned NaN or infinite logits"
MSG_UNKNOWN_ATTRIBUTE = "{path} has no attribute {name!r} (it has: {names})"


def parse_attribute_names(value: Any, where: str) -> tuple[str, ...]:
    """Attribute names from a list or a comma-separated string: unique, non-empty, no surrounding spaces."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise BadInputError(f"{where}: attribute names must be a non-empty list of non-empty strings, got {value!r}")
    names = tuple(value)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInputError(f"{where}: attribute names repeat: {', '.join(dupes)}")
    return names


def _describe(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return f"a {str(out.dtype).replace('torch.', '')} tensor {tuple(out.shape)}"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)} items"
    return f"a {type(out).__name__}"


class AttributeClassifier(nn.Module):
    """A loaded attribute classifier: the network, its K attribute names and its input declarations.

    forward / logits_from_unit: float (N, 3, H, W) pixels in [0, 1] (any H, W) -> (N, K) float32 logits,
    differentiable. logits / probabilities / predict: uint8 (N, 3, H, W) images, batched, no gradients.
    """

    def __init__(self, module: nn.Module, names: Sequence[str], declarations: Declarations, *, path: str,
                 sha256: str = "none", kind: str = "module") -> None:
        super().__init__()
        self.module = module
        self.names = tuple(names)
        self.declarations = declarations
        self.path = path
        self.sha256 = sha256
        self.kind = kind
        d = declarations
        if d.value_range == "signed":
            mean, std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # x / 255 * 2 - 1
        else:
            mean, std = d.mean, d.std
        self.register_buffer("_mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> AttributeClassifier:
        # The user's network stays as it was saved (eval); exported programs refuse train()/eval().
        self.training = mode
        return self

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) the network takes."""
        return self.declarations.input_size

    @property
    def n_attributes(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Column of attribute `name`; BadInputError naming the file and listing the names when absent."""
        if name not in self.names:
            raise BadInputError(MSG_UNKNOWN_ATTRIBUTE.format(path=self.path, name=name, names=", ".join(self.names)))
        return self.names.index(name)

    def _checked(self, out: Any, x: torch.Tensor) -> torch.Tensor:
        n, k = x.shape[0], len(self.names)
        if isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[2:] == (1, 1):
            out = out.flatten(1)
        if not (isinstance(out, torch.Tensor) and out.is_floating_point() and tuple(out.shape) == (n, k)):
            raise BadInputError(MSG_BAD_SHAPE.format(path=self.path, probe=tuple(x.shape), got=_describe(out), k=k,
                                                     names=", ".join(self.names)))
        return out.float()

    def logits_from_unit(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K) logits of float pixels x (N, 3, H, W) in [0, 1]: resized in float (bilinear, antialiased)
        to the input size, mapped to the declared range; differentiable in x."""
        if tuple(x.shape[2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        return self._checked(self.module((x - self._mean) / self._std), x)

    forward = logits_from_unit

    @torch.no_grad()
    def logits(self, images: torch.Tensor, batch_size: int = BATCH) -> torch.Tensor:
        """(N, K) float32 logits of uint8 images (N, 3, H, W), resized (if needed) as the datasets registry
        resizes: bilinear, antialiased, rounded to uint8 -- the pixels the attr-classifier trainer saw."""
        from ganeval.datasets import resize_images

        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise BadInputError(f"{self.path}: images must be uint8 (N, 3, H, W), got {images.dtype} "
                                f"{tuple(images.shape)}")
        h, w = self.input_size
        out = []
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size]
            if tuple(batch.shape[2:]) != (h, w):
                if h != w:
                    x = F.interpolate(batch.float(), size=(h, w), mode="bilinear", align_corners=False,
                                      antialias=True).round().clamp(0, 255)
                else:
                    x = resize_images(batch, h).float()
            else:
                x = batch.float()
            x = x / 255.0
            out.append(self._checked(self.module((x - self._mean) / self._std), x))
        logits = torch.cat(out) if out else torch.empty(0, len(self.names))
        if not bool(torch.isfinite(logits).all()):
            raise BadInputError(MSG_NOT_FINITE.format(path=self.path))
        return logits

    def probabilities(self, images: torch.Tensor, batch_size: int = BATCH) -> np.ndarray:
        """(N, K) float64 sigmoid(logits): P(attribute = 1 | image)."""
        return torch.sigmoid(self.logits(images, batch_size).double()).numpy()

    def describe(self) -> dict[str, Any]:
        """JSON-able facts for provenance: path, format, sha256, attribute names, input declarations."""
        d = self.declarations
        return {"path": self.path, "format": self.kind, "sha256": self.sha256, "attributes": list(self.names),
                "input_size": list(d.input_size), "value_range": d.value_range, "mean": list(d.mean),
                "std": list(d.std), "description": d.description}


def load_attribute_classifier(path: str | Path, attributes: str | Sequence[str] | None = None, *,
                              input_size: tuple[int, int] | None = None, value_range: str | None = None,
                              mean: tuple[float, float, float] | None = None,
                              std: tuple[float, float, float] | None = None) -> AttributeClassifier:
    """Load a TorchScript or torch.export attribute classifier (format detected from the file), safely.

    attributes: names for a file that embeds none (a list or "a,b,c"); contradicting embedded names is
    an error. input_size, value_range, mean, std: declarations for what the file does not embed (as for
    torchscript:/export: extractors). One probe forward on zeros (2, 3, H, W) checks that the network
    returns (2, K) logits for the K names. Raises BadInputError naming the file for a missing or foreign
    file, pickled content, missing or conflicting names or declarations, and a wrong output shape.
    """
    net = load_network(path, None, known_keys=CLASSIFIER_KEYS, label=LABEL)
    where = net.where
    embedded = dict(net.embedded)
    raw_names = embedded.pop(ATTRIBUTES_KEY, None)
    file_names = parse_attribute_names(raw_names, where) if raw_names is not None else None
    given = parse_attribute_names(attributes, "--attributes") if attributes is not None else None
    if file_names is not None and given is not None and file_names != given:
        raise BadInputError(MSG_NAME_CONFLICT.format(path=where, embedded=",".join(file_names),
                                                     given=",".join(given)))
    names = file_names or given
    if names is None:
        raise BadInputError(MSG_NO_NAMES.format(path=where))
    options = ExtractorOptions(input_size=input_size, value_range=value_range, mean=mean, std=std)
    decl = read_declarations(embedded, options, where)
    classifier = AttributeClassifier(net.module, names, decl, path=where, sha256=net.sha256, kind=net.kind)
    probe = torch.zeros(PROBE_BATCH, 3, *decl.input_size)
    try:
        with torch.no_grad():
            out = net.module(probe)
    except Exception as exc:  # the user's network may fail in any way at the declared size
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BadInputError(f"{where}: the classifier failed on a probe batch {tuple(probe.shape)} at its declared "
                            f"input size: {first}") from None
    classifier._checked(out, probe)
    return classifier


def save_attribute_classifier(module: nn.Module, path: str | Path, attributes: Sequence[str], *,
                              input_size: int | Sequence[int], value_range: str = "unit",
                              mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None,
                              description: str = "", format: str = "torchscript") -> Path:
    """Write `module` (float (N, 3, H, W) -> (N, K) logits) as a TorchScript or torch.export file with its
    attribute names and input declarations embedded; validated as loading validates them; atomic."""
    if format not in FORMATS:
        raise BadInputError(f"unknown format {format!r}; use one of {FORMATS}")
    where = str(path)
    names = parse_attribute_names(list(attributes), where)
    declared = {"input_size": input_size if isinstance(input_size, int) else list(input_size),
                "value_range": value_range, "mean": mean, "std": std, "description": description or None}
    declared = {k: v for k, v in declared.items() if v is not None}
    decl = read_declarations(declared, ExtractorOptions(), where)
    probe = torch.zeros(PROBE_BATCH, 3, *decl.input_size)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(probe)
    finally:
        module.train(was_training)
    AttributeClassifier(module, names, decl, path=where)._checked(out, probe)
    payload: dict[str, Any] = {"input_size": list(decl.input_size), "value_range": decl.value_range,
                               ATTRIBUTES_KEY: list(names)}
    if decl.value_range == "unit":
        payload.update(mean=list(decl.mean), std=list(decl.std))
    if decl.description:
        payload["description"] = decl.description
    return write_network(module, path, payload=payload, input_size=decl.input_size, format=format)
