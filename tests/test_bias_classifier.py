"""Attribute classifiers: names from the file or the flag, declarations honoured, clear errors, no pickled code.

The reference for every logit is the saved nn.Module itself, called on the same float input.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from ganeval.bias.classifier import AttributeClassifier, load_attribute_classifier, save_attribute_classifier
from ganeval.datasets import resize_images
from ganeval.errors import BadInputError
from ganeval.extractors.user_model import DECLARATION_FILE

NAMES = ("hat", "glasses", "smiling")
SIZE = 16
FORMATS = ("torchscript", "export")


class TinyAttr(nn.Module):
    """conv -> global mean -> linear: (N, 3, H, W) -> (N, 3) logits."""

    def __init__(self, k: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.head = nn.Linear(6, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module.eval()


def _images(n: int, size: int = SIZE, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _plain_torchscript(module: nn.Module, path: Path) -> Path:
    with pytest.warns(FutureWarning):  # torch 2.14 marks TorchScript deprecated
        torch.jit.save(torch.jit.trace(module, torch.zeros(2, 3, SIZE, SIZE)), str(path))
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_names_and_declarations_come_from_the_file(tmp_path, fmt):
    module = _seeded(TinyAttr())
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    path = save_attribute_classifier(module, tmp_path / f"attr.{'pt2' if fmt == 'export' else 'pt'}", NAMES,
                                     input_size=SIZE, mean=mean, std=std, format=fmt)
    clf = load_attribute_classifier(path)
    assert clf.names == NAMES and clf.input_size == (SIZE, SIZE) and clf.kind == fmt
    images = _images(5)
    x = (images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = module(x)
    torch.testing.assert_close(clf.logits(images), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.from_numpy(clf.probabilities(images)).float(), torch.sigmoid(expected),
                               rtol=1e-5, atol=1e-6)
    assert clf.describe()["attributes"] == list(NAMES) and len(clf.describe()["sha256"]) == 64


def test_the_differentiable_path_agrees_with_the_image_path(tmp_path):
    module = _seeded(TinyAttr())
    clf = load_attribute_classifier(save_attribute_classifier(module, tmp_path / "a.pt", NAMES, input_size=SIZE,
                                                              value_range="signed"))
    images = _images(4)
    unit = (images.float() / 255).requires_grad_(True)
    logits = clf.logits_from_unit(unit)
    torch.testing.assert_close(logits.detach(), clf.logits(images), rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # "signed" is x / 255 * 2 - 1
        torch.testing.assert_close(logits.detach(), module(images.float() / 255 * 2 - 1), rtol=1e-5, atol=1e-5)
    logits[:, 1].sum().backward()
    assert unit.grad is not None and unit.grad.abs().sum() > 0


def test_other_image_sizes_are_resized_as_the_datasets_registry_resizes(tmp_path):
    module = _seeded(TinyAttr())
    clf = load_attribute_classifier(save_attribute_classifier(module, tmp_path / "a.pt", NAMES, input_size=SIZE))
    big = _images(3, size=40)
    with torch.no_grad():
        expected = module(resize_images(big, SIZE).float() / 255)
    torch.testing.assert_close(clf.logits(big), expected, rtol=1e-5, atol=1e-5)


def test_names_from_the_flag_for_a_file_without_them(tmp_path):
    module = _seeded(TinyAttr())
    path = _plain_torchscript(module, tmp_path / "plain.pt")
    clf = load_attribute_classifier(path, "hat, glasses,smiling", input_size=(SIZE, SIZE))
    assert clf.names == NAMES
    with torch.no_grad():
        torch.testing.assert_close(clf.logits(_images(2)), module(_images(2).float() / 255), rtol=1e-5, atol=1e-5)
    with pytest.raises(BadInputError, match="does not name its attributes") as err:
        load_attribute_classifier(path, input_size=(SIZE, SIZE))
    assert str(path) in str(err.value) and "--attributes" in str(err.value)


def test_flag_names_contradicting_the_file_are_refused(tmp_path):
    path = save_attribute_classifier(_seeded(TinyAttr()), tmp_path / "a.pt", NAMES, input_size=SIZE)
    assert load_attribute_classifier(path, list(NAMES)).names == NAMES  # agreeing is fine
    with pytest.raises(BadInputError, match="names its attributes hat,glasses,smiling but --attributes gave") as err:
        load_attribute_classifier(path, "a,b,c")
    assert str(path) in str(err.value)


@pytest.mark.parametrize("names, k", [(("hat", "glasses"), 3), (("a", "b", "c", "d"), 3)])
def test_an_output_shape_mismatch_is_one_line_naming_the_file(tmp_path, names, k):
    path = _plain_torchscript(_seeded(TinyAttr(k)), tmp_path / "shape.pt")
    with pytest.raises(BadInputError) as err:
        load_attribute_classifier(path, names, input_size=(SIZE, SIZE))
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert f"tensor (2, {k})" in message and f"{len(names)} attribute names" in message


def test_save_refuses_a_network_whose_outputs_do_not_match_the_names(tmp_path):
    with pytest.raises(BadInputError, match="2 attribute names"):
        save_attribute_classifier(_seeded(TinyAttr(3)), tmp_path / "x.pt", ("a", "b"), input_size=SIZE)
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(BadInputError, match="repeat"):
        save_attribute_classifier(_seeded(TinyAttr(3)), tmp_path / "x.pt", ("a", "a", "b"), input_size=SIZE)


def test_unknown_embedded_keys_and_bad_names_are_refused(tmp_path):
    module = _seeded(TinyAttr())
    for payload, match in [({"input_size": SIZE, "attributes": NAMES, "labels": 1}, "unknown keys"),
                           ({"input_size": SIZE, "attributes": "hat"}, None),
                           ({"input_size": SIZE, "attributes": ["hat", ""]}, "non-empty strings")]:
        path = tmp_path / "k.pt"
        with pytest.warns(FutureWarning):
            torch.jit.save(torch.jit.trace(module, torch.zeros(2, 3, SIZE, SIZE)), str(path),
                           _extra_files={DECLARATION_FILE: json.dumps(payload)})
        if match is None:  # a single name is a string: one attribute for a 3-logit network -> shape error
            with pytest.raises(BadInputError, match="1 attribute names"):
                load_attribute_classifier(path)
            continue
        with pytest.raises(BadInputError, match=match) as err:
            load_attribute_classifier(path)
        assert str(path) in str(err.value)


def test_missing_foreign_and_unknown_attribute(tmp_path):
    with pytest.raises(BadInputError, match="no such attribute classifier model file"):
        load_attribute_classifier(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(BadInputError, match="not a TorchScript or torch.export file") as err:
        load_attribute_classifier(junk)
    assert str(junk) in str(err.value)
    clf = load_attribute_classifier(save_attribute_classifier(_seeded(TinyAttr()), tmp_path / "a.pt", NAMES,
                                                              input_size=SIZE))
    with pytest.raises(BadInputError, match="has no attribute 'beard' \\(it has: hat, glasses, smiling\\)"):
        clf.index("beard")


class _Planted:
    """Unpickling this creates a folder: proof that pickled code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_pickled_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pickle-ran"
    path = tmp_path / "evil.pt"
    torch.save({"model": _Planted(marker), "attributes": list(NAMES)}, path)
    with pytest.raises(BadInputError, match="torch.save checkpoint \\(pickled\\)") as err:
        load_attribute_classifier(path, NAMES, input_size=(SIZE, SIZE))
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_an_export_archive_with_pickled_inputs_is_refused_without_running_them(tmp_path):
    marker = tmp_path / "pickle-ran"
    good = save_attribute_classifier(_seeded(TinyAttr()), tmp_path / "good.pt2", NAMES, input_size=SIZE,
                                     format="export")
    buffer = io.BytesIO()
    torch.save(((_Planted(marker),), {}), buffer)
    evil = tmp_path / "evil.pt2"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(evil, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            rel = item.filename.split("/", 1)[1]
            data = buffer.getvalue() if rel.startswith("data/sample_inputs/") else zin.read(item.filename)
            zout.writestr(item, data)
    with pytest.raises(BadInputError, match="refusing export model") as err:
        load_attribute_classifier(evil)
    assert str(evil) in str(err.value)
    assert not marker.exists()


def test_non_finite_logits_are_refused(tmp_path):
    class Broken(nn.Module):
        def forward(self, x):
            return torch.log(x.mean(dim=(2, 3)) - 2.0)  # NaN for every pixel value

    clf = AttributeClassifier(Broken(), NAMES, load_attribute_classifier(
        save_attribute_classifier(_seeded(TinyAttr()), tmp_path / "a.pt", NAMES, input_size=SIZE)).declarations,
        path="broken.pt")
    with pytest.raises(BadInputError, match="broken.pt: the attribute classifier returned NaN"):
        clf.logits(_images(2))
