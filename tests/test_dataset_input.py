"""`dataset:NAME[:SPLIT]` inputs: a registered dataset read without writing it to a folder first."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from ganeval.errors import BadInputError
from ganeval.sources import DatasetSource, open_input, open_source
from test_cli import run_cli


def _read(source, batch_size):
    images, names = [], []
    for batch in source.batches(batch_size):
        images.append(batch.images.numpy())
        names.extend(batch.names)
    return np.concatenate(images), names


def test_digits_test_split_is_read_with_its_classes():
    source = open_source("dataset:digits:test")
    assert isinstance(source, DatasetSource) and source.kind == "dataset"
    images, names = _read(source, 64)
    digits = load_digits()  # the split sizes add up to scikit-learn's own count
    assert images.shape == (len(source), 3, 16, 16) and images.dtype == np.uint8
    assert (images[:, 0] == images[:, 1]).all() and (images[:, 1] == images[:, 2]).all()
    assert {n.split("/")[0] for n in names} == {str(d) for d in range(10)}
    counts = np.bincount([int(n.split("/")[0]) for n in names], minlength=10)
    assert counts.sum() == len(source) and counts.min() > 20  # every class is there, none dominates
    assert len(source) == 359 and len(source) + len(open_source("dataset:digits:train")) == len(digits.target)


def test_batches_and_default_split_agree():
    a, names_a = _read(open_source("dataset:digits"), 7)
    b, names_b = _read(open_source("dataset:digits:test"), 100)
    assert np.array_equal(a, b) and names_a == names_b


def test_fingerprint_depends_on_the_split_and_is_stable():
    test1 = open_source("dataset:digits:test").fingerprint()
    test2 = open_source("dataset:digits:test").fingerprint()
    train = open_source("dataset:digits:train").fingerprint()
    assert test1 == test2 and test1 != train


@pytest.mark.parametrize("spec, match", [
    ("dataset:", "dataset:NAME"), ("dataset:nope", "unknown dataset 'nope'"),
    ("dataset:digits:val", "no 'val' split"), ("dataset:digits:test:x", "dataset:NAME"),
    ("dataset:digits:", "dataset:NAME"),
])
def test_bad_specs_are_one_line(spec, match):
    with pytest.raises(BadInputError, match=match) as err:
        open_input(spec)
    assert "\n" not in str(err.value)


def test_fid_of_a_dataset_input_equals_the_same_images_as_an_array(monkeypatch, capsys, tmp_path):
    images, _ = _read(open_source("dataset:digits:test"), 128)
    array = tmp_path / "digits_test.npy"
    np.save(array, images[:, 0])  # grayscale (N, H, W): repeated to RGB when read back
    other = tmp_path / "other.npy"
    np.save(other, np.ascontiguousarray(images[::-1, 0][:200]))
    code, out_ds, err = run_cli(monkeypatch, capsys, "fid", "dataset:digits:test", str(other), "-e", "test-tiny",
                                "-q", "--no-cache")
    assert code == 0, err
    code, out_arr, err = run_cli(monkeypatch, capsys, "fid", str(array), str(other), "-e", "test-tiny", "-q",
                                 "--no-cache")
    assert code == 0, err
    assert out_ds.split()[1] == out_arr.split()[1]


def test_the_command_line_names_a_bad_dataset(monkeypatch, capsys, tmp_path):
    code, out, err = run_cli(monkeypatch, capsys, "fid", "dataset:cifar10", str(tmp_path), "-q")
    assert code == 2 and "unknown dataset 'cifar10'" in err and "Traceback" not in err
