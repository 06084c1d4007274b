"""`ganeval train-reference attr-classifier`: files written, the recorded accuracy is the saved classifier's,
deterministic for a seed, and GAN-only options are refused (fast: tiny data, one epoch)."""

from __future__ import annotations

import csv
import hashlib
import json
import sys

import numpy as np
import pytest
import torch

import ganeval.cli as cli
from ganeval.bias import load_attribute_classifier
from ganeval.datasets.synthfaces import ATTRIBUTES, SynthFacesConfig, load_synthfaces_folder, write_synthfaces
from ganeval.errors import BadInputError
from reference_models.attr_classifier import AttrClassifierConfig, train_attr_classifier


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    out = tmp_path_factory.mktemp("faces") / "faces"
    write_synthfaces(out, SynthFacesConfig(n=160, size=16, seed=8))
    return out


def run_cli(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["ganeval", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_the_command_writes_a_classifier_and_its_record(tmp_path, monkeypatch, capsys, faces):
    out = tmp_path / "attr.pt"
    code, stdout, err = run_cli(monkeypatch, capsys, "train-reference", "attr-classifier", "--data", str(faces),
                                "--out", str(out), "--size", "16", "--epochs", "1", "--batch-size", "32",
                                "--width", "8", "--seed", "3", "-q")
    assert code == 0, err
    assert "held-out accuracy (16 images; trained on 144)" in stdout
    record = json.loads((tmp_path / "attr.json").read_text())
    assert record["classifier_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert record["attributes"] == list(ATTRIBUTES) and record["settings"]["seed"] == 3
    clf = load_attribute_classifier(out)
    assert clf.names == ATTRIBUTES and clf.input_size == (16, 16)
    # the recorded accuracy is the saved file's, on the recorded held-out images and their labels
    with open(faces / "attributes.csv", newline="") as fh:
        table = {row["file"]: row for row in csv.DictReader(fh)}
    data = load_synthfaces_folder(faces)
    index = {f: i for i, f in enumerate(data.files)}
    held = record["held_out_files"]
    assert len(held) == 16 and len(set(held)) == 16
    images = data.images[[index[f] for f in held]]
    predicted = clf.logits(images).numpy() > 0
    labels = np.array([[int(table[f][a]) for a in ATTRIBUTES] for f in held])
    for j, name in enumerate(ATTRIBUTES):
        assert record["held_out_accuracy"][name] == pytest.approx((predicted[:, j] == labels[:, j]).mean())
        assert record["held_out_positive_rate"][name] == pytest.approx(labels[:, j].mean())


def test_training_is_deterministic_for_a_seed(tmp_path, faces):
    config = AttrClassifierConfig(size=16, epochs=0.5, batch_size=32, width=8, seed=1)
    a = train_attr_classifier(faces, tmp_path / "a.pt", config)
    b = train_attr_classifier(faces, tmp_path / "b.pt", config)
    c = train_attr_classifier(faces, tmp_path / "c.pt", AttrClassifierConfig(size=16, epochs=0.5, batch_size=32,
                                                                             width=8, seed=2))
    images = load_synthfaces_folder(faces, limit=40).images
    la, lb, lc = (load_attribute_classifier(r.path).logits(images) for r in (a, b, c))
    torch.testing.assert_close(la, lb, rtol=0, atol=0)
    assert not torch.equal(la, lc)
    assert a.accuracy == b.accuracy


def test_gan_options_and_bad_outputs_are_refused(tmp_path, monkeypatch, capsys, faces):
    code, _, err = run_cli(monkeypatch, capsys, "train-reference", "attr-classifier", "--data", str(faces),
                           "--z-dim", "8", "--steps", "3", "--out", str(tmp_path / "x.pt"))
    assert code == 2 and "attr-classifier does not take --steps, --z-dim" in err
    code, _, err = run_cli(monkeypatch, capsys, "train-reference", "attr-classifier", "--out", str(tmp_path / "x.pt"))
    assert code == 2 and "needs --data DIR" in err
    code, _, err = run_cli(monkeypatch, capsys, "train-reference", "dcgan", "--data", str(faces))
    assert code == 2 and "--data is for non-GAN trainers" in err
    with pytest.raises(BadInputError, match="cannot be a .json file"):
        train_attr_classifier(faces, tmp_path / "attr.json")
    with pytest.raises(BadInputError, match="--epochs must be a positive number"):
        train_attr_classifier(faces, tmp_path / "attr.pt", AttrClassifierConfig(epochs=0))
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "attr.pt").exists()


def test_the_help_lists_the_classifier(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "train-reference", "--help")
    assert code == 0 and "attr-classifier" in out and "--data" in out
