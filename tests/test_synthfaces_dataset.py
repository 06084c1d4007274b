"""synthfaces through the datasets registry: labels for one attribute, the registered name, errors."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from ganeval.datasets import available_datasets, load_dataset
from ganeval.datasets.synthfaces import SynthFacesConfig, write_synthfaces
from ganeval.errors import BadInputError


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    out = tmp_path_factory.mktemp("sf") / "faces"
    write_synthfaces(out, SynthFacesConfig(n=40, size=32, seed=3, marginals=(("hat", 0.5),)))
    with open(out / "attributes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return out, rows


def test_a_synthfaces_folder_conditions_on_one_attribute(faces):
    out, rows = faces
    ds = load_dataset(str(out), attribute="hat")
    assert ds.images.shape == (40, 3, 32, 32)
    np.testing.assert_array_equal(ds.labels.numpy(), [int(r["hat"]) for r in rows])
    assert len(ds.class_names) == 2
    plain = load_dataset(str(out))  # unconditional: no labels needed, all images
    assert plain.images.shape[0] == 40


def test_registered_name_with_data_dir(faces):
    out, rows = faces
    assert "synthfaces" in available_datasets()
    ds = load_dataset("synthfaces", data_dir=str(out), attribute="glasses", image_size=16)
    assert ds.images.shape == (40, 3, 16, 16)
    np.testing.assert_array_equal(ds.labels.numpy(), [int(r["glasses"]) for r in rows])


def test_unknown_attribute_and_plain_folders_are_refused(faces, tmp_path):
    out, _ = faces
    with pytest.raises(BadInputError, match="wings"):
        load_dataset(str(out), attribute="wings")
    (tmp_path / "plain").mkdir()
    shutil.copy(out / "images" / "000000.png", tmp_path / "plain" / "a.png")
    with pytest.raises(BadInputError, match="attribute table"):
        load_dataset(str(tmp_path / "plain"), attribute="hat")
