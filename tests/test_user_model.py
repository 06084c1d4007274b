"""torchscript:PATH and export:PATH: round trips, declarations, clear errors, no pickled code run.

The reference for every feature check is the tiny nn.Module itself, called directly on the same
float input the extractor receives.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from ganeval.errors import BadInputError
from ganeval.extractors import ExtractorOptions, available_extractors, get_extractor
from ganeval.extractors.user_model import DECLARATION_FILE, save_user_model

SIZE = 16
MEAN = (0.5, 0.4, 0.3)
STD = (0.2, 0.25, 0.3)
FORMATS = ("torchscript", "export")


class PoolAndLogits(nn.Module):
    """conv -> global mean -> (pool (N, 8), logits (N, 3))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pool = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return pool, self.head(pool)


class PoolOnly4d(nn.Module):
    """Returns (N, 6, 1, 1), like a CNN trunk that ends in adaptive average pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(x))


class SpatialOutput(nn.Module):
    """Wrong form: (N, 4, H, W) feature maps, not a vector per image."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return module.eval()


def _batch(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def _save(module: nn.Module, tmp_path: Path, fmt: str, **declarations) -> Path:
    suffix = ".pt2" if fmt == "export" else ".pt"
    decl = {"input_size": SIZE, "mean": MEAN, "std": STD} | declarations
    return save_user_model(module, tmp_path / f"net{suffix}", format=fmt, **decl)


def _plain_torchscript(module: nn.Module, path: Path) -> Path:
    """A TorchScript file without any embedded declarations, as users' own scripts write them."""
    with pytest.warns(FutureWarning):  # torch 2.14 marks TorchScript as deprecated
        torch.jit.save(torch.jit.trace(module, _batch(2)), str(path))
    return path


def test_both_entries_are_registered_and_take_a_path():
    entries = available_extractors()
    for name in FORMATS:
        assert entries[name].takes_argument and entries[name].offline


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_gives_the_modules_own_features(tmp_path, fmt):
    module = _seeded(PoolAndLogits())
    path = _save(module, tmp_path, fmt)
    extractor = get_extractor(f"{fmt}:{path}")
    x = _batch(5)
    with torch.no_grad():
        want_pool, want_logits = module(x)
        got = extractor(x)
    torch.testing.assert_close(got["pool"], want_pool, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got["logits"], want_logits, rtol=1e-5, atol=1e-6)
    info = extractor.info
    assert info.features == {"pool": 8, "logits": 3}
    assert info.input_size == (SIZE, SIZE)
    assert (info.value_range, info.mean, info.std) == ("unit", MEAN, STD)
    assert info.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", FORMATS)
def test_batch_size_is_free_after_saving_at_two(tmp_path, fmt):
    module = _seeded(PoolOnly4d())
    extractor = get_extractor(f"{fmt}:{_save(module, tmp_path, fmt)}")
    for n in (1, 7):
        x = _batch(n, seed=n)
        with torch.no_grad():
            got = extractor(x)
            want = module(x).flatten(1)
        assert set(got) == {"pool"}
        torch.testing.assert_close(got["pool"], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_declared_output_order_is_honoured(tmp_path, fmt):
    class LogitsFirst(PoolAndLogits):
        def forward(self, x):
            pool, logits = super().forward(x)
            return logits, torch.zeros_like(logits), pool

    module = _seeded(LogitsFirst())
    path = _save(module, tmp_path, fmt, outputs=["logits", None, "pool"])
    extractor = get_extractor(f"{fmt}:{path}")
    x = _batch(3)
    with torch.no_grad():
        logits, _, pool = module(x)
        got = extractor(x)
    assert extractor.info.features == {"logits": 3, "pool": 8}
    torch.testing.assert_close(got["pool"], pool, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got["logits"], logits, rtol=1e-5, atol=1e-6)


def test_embedded_declarations_are_in_the_file(tmp_path):
    path = _save(_seeded(PoolAndLogits()), tmp_path, "export", value_range="unit", description="tiny")
    with zipfile.ZipFile(path) as zf:
        [name] = [n for n in zf.namelist() if n.endswith("/extra/" + DECLARATION_FILE)]
        declared = json.loads(zf.read(name))
    assert declared == {"input_size": [SIZE, SIZE], "value_range": "unit", "mean": list(MEAN),
                        "std": list(STD), "description": "tiny"}


def test_signed_range_declaration_is_honoured(tmp_path):
    path = save_user_model(_seeded(PoolAndLogits()), tmp_path / "s.pt", input_size=(SIZE, 12), value_range="signed")
    info = get_extractor(f"torchscript:{path}").info
    assert info.value_range == "signed" and info.input_size == (SIZE, 12)


def test_options_declare_what_the_file_does_not(tmp_path):
    path = _plain_torchscript(_seeded(PoolAndLogits()), tmp_path / "plain.pt")
    options = ExtractorOptions(input_size=(SIZE, SIZE), mean=MEAN, std=STD)
    extractor = get_extractor(f"torchscript:{path}", options)
    assert extractor.info.input_size == (SIZE, SIZE)
    assert (extractor.info.value_range, extractor.info.mean, extractor.info.std) == ("unit", MEAN, STD)
    assert extractor.info.features == {"pool": 8, "logits": 3}


def test_missing_input_size_says_how_to_declare_it(tmp_path):
    path = _plain_torchscript(_seeded(PoolAndLogits()), tmp_path / "plain.pt")
    with pytest.raises(BadInputError, match="does not declare its input size") as err:
        get_extractor(f"torchscript:{path}")
    assert str(path) in str(err.value) and "--input-size" in str(err.value)


def test_option_contradicting_the_file_is_refused(tmp_path):
    path = _save(_seeded(PoolAndLogits()), tmp_path, "torchscript")
    with pytest.raises(BadInputError, match="declares input_size") as err:
        get_extractor(f"torchscript:{path}", ExtractorOptions(input_size=(32, 32)))
    assert str(path) in str(err.value)
    # agreeing options are fine
    get_extractor(f"torchscript:{path}", ExtractorOptions(input_size=(SIZE, SIZE), mean=MEAN))


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_output_shape_is_a_clear_error(tmp_path, fmt):
    path = _save(_seeded(SpatialOutput()), tmp_path, fmt)
    with pytest.raises(BadInputError, match=r"must return a float tensor \(N, D\)") as err:
        get_extractor(f"{fmt}:{path}")
    assert str(path) in str(err.value) and f"(2, 4, {SIZE}, {SIZE})" in str(err.value)


def test_probe_failure_at_the_declared_size_names_the_file(tmp_path):
    class Fixed(nn.Module):  # a head that only fits SIZE x SIZE inputs
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3 * SIZE * SIZE, 4)

        def forward(self, x):
            return self.fc(x.flatten(1))

    path = _plain_torchscript(_seeded(Fixed()), tmp_path / "fixed.pt")
    with pytest.raises(BadInputError, match="failed on a probe batch") as err:
        get_extractor(f"torchscript:{path}", ExtractorOptions(input_size=(SIZE + 1, SIZE)))
    assert str(path) in str(err.value)


@pytest.mark.parametrize("bad, match", [
    ({"input_size": [0, 3]}, "input_size must be"),
    ({"input_size": 8, "std": [1, 0, 1]}, "std must be three positive numbers"),
    ({"input_size": 8, "value_range": "zero-one"}, "value_range must be"),
    ({"input_size": 8, "Mean": [0, 0, 0]}, "unknown keys"),
    ({"input_size": 8, "value_range": "signed", "mean": [0.5] * 3}, "apply to value_range \"unit\" only"),
    ({"input_size": 8, "outputs": ["logits"]}, "exactly one \"pool\""),
])
def test_bad_embedded_declarations_are_refused(tmp_path, bad, match):
    module = _seeded(PoolAndLogits())
    path = tmp_path / "bad.pt"
    with pytest.warns(FutureWarning):
        torch.jit.save(torch.jit.trace(module, _batch(2)), str(path), _extra_files={DECLARATION_FILE: json.dumps(bad)})
    with pytest.raises(BadInputError, match=match) as err:
        get_extractor(f"torchscript:{path}")
    assert str(path) in str(err.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_and_foreign_files_are_bad_input(tmp_path, fmt):
    with pytest.raises(BadInputError, match="no such") as err:
        get_extractor(f"{fmt}:{tmp_path / 'absent.pt'}")
    assert "absent.pt" in str(err.value)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(BadInputError, match="cannot load") as err:
        get_extractor(f"{fmt}:{junk}", ExtractorOptions(input_size=(8, 8)))
    assert str(junk) in str(err.value)


def test_a_state_dict_checkpoint_is_not_loaded_as_torchscript(tmp_path):
    path = tmp_path / "state.pt"
    torch.save(PoolAndLogits().state_dict(), path)
    with pytest.raises(BadInputError, match="cannot load TorchScript model") as err:
        get_extractor(f"torchscript:{path}", ExtractorOptions(input_size=(8, 8)))
    assert "torch.save checkpoint" in str(err.value)


def test_the_wrong_format_name_gets_a_hint(tmp_path):
    pt2 = _save(_seeded(PoolAndLogits()), tmp_path, "export")
    with pytest.raises(BadInputError, match="use export:PATH"):
        get_extractor(f"torchscript:{pt2}")
    ts = _save(_seeded(PoolAndLogits()), tmp_path, "torchscript")
    with pytest.raises(BadInputError, match="use torchscript:PATH"):
        get_extractor(f"export:{ts}")


def _rewrite_pt2(src: Path, dst: Path, edit) -> Path:
    """Copy a .pt2 archive record by record, letting `edit(relative_name, data)` change a record."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            rel = item.filename.split("/", 1)[1]
            zout.writestr(item, edit(rel, zin.read(item.filename)))
    return dst


class _Planted:
    """Unpickling this creates a folder: proof that pickled code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickled_sample_inputs_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "pickle-ran"
    good = _save(_seeded(PoolAndLogits()), tmp_path, "export")
    buffer = io.BytesIO()
    torch.save(((_Planted(marker),), {}), buffer)

    def plant(rel, data):
        return buffer.getvalue() if rel.startswith("data/sample_inputs/") else data

    evil = _rewrite_pt2(good, tmp_path / "evil.pt2", plant)
    with pytest.raises(BadInputError, match="refusing export model") as err:
        get_extractor(f"export:{evil}")
    assert str(evil) in str(err.value)
    assert not marker.exists()


def test_pickled_weights_are_refused(tmp_path):
    good = _save(_seeded(PoolAndLogits()), tmp_path, "export")

    def mark_pickled(rel, data):
        if rel.endswith("_weights_config.json"):
            config = json.loads(data)
            for meta in config["config"].values():
                meta["use_pickle"] = True
            return json.dumps(config).encode()
        return data

    evil = _rewrite_pt2(good, tmp_path / "pickled.pt2", mark_pickled)
    with pytest.raises(BadInputError, match="is pickled"):
        get_extractor(f"export:{evil}")


def test_save_refuses_contradictory_declarations(tmp_path):
    with pytest.raises(BadInputError, match="apply to value_range"):
        save_user_model(PoolAndLogits(), tmp_path / "x.pt", input_size=8, value_range="signed", std=0.5)
    assert not (tmp_path / "x.pt").exists()


def test_graph_calling_a_non_operator_is_refused(tmp_path):
    good = _save(_seeded(PoolAndLogits()), tmp_path, "export")

    def redirect(rel, data):  # torch's deserializer would resolve this name to os.system
        if rel.startswith("models/"):
            return data.replace(b'"torch.ops.aten.relu.default"', b'"torch.os.system"')
        return data

    evil = _rewrite_pt2(good, tmp_path / "call.pt2", redirect)
    assert b"torch.os.system" in evil.read_bytes()
    with pytest.raises(BadInputError, match="its graph calls 'torch.os.system'"):
        get_extractor(f"export:{evil}")


def test_shape_arithmetic_passes_the_graph_check(tmp_path):
    class ShapeMath(nn.Module):  # exports to sym_size, operator and torch.sym_* nodes
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.conv(x).reshape(x.shape[0], -1)[:, :10] * (x.shape[0] ** 0.5)

    module = _seeded(ShapeMath())
    extractor = get_extractor(f"export:{_save(module, tmp_path, 'export')}")
    x = _batch(3)
    with torch.no_grad():
        torch.testing.assert_close(extractor(x)["pool"], module(x), rtol=1e-5, atol=1e-6)
