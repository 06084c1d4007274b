"""translate-eval and its pieces: L1/PSNR/SSIM against closed forms and an independent SSIM (scipy's Gaussian
filter), folder pairing and its errors, the edge drawing, and `ganeval translate-eval` on tiny identity-like
translators (0 L1, infinite PSNR, SSIM 1, FID ~0 against the same images, 0 cycle error)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from scipy.ndimage import gaussian_filter
from typer.testing import CliRunner

from ganeval.datasets.pairs import edge_drawing, load_pairs, match_names, read_pair_folders
from ganeval.errors import BadInputError
from ganeval.translate_eval import (
    TranslateEvalConfig, TranslationSpec, images_to_l1, images_to_psnr, images_to_ssim, load_translator,
    register_translator_architecture, save_translator, translate_eval, write_translation_report,
)

C1, C2 = 0.01 ** 2, 0.03 ** 2


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


# -- metrics ----------------------------------------------------------------------------------------


def test_identical_images_give_zero_l1_infinite_psnr_and_ssim_one():
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert images_to_l1(x, x) == 0.0
    assert np.all(np.isinf(images_to_psnr(x, x)))
    np.testing.assert_allclose(images_to_ssim(x, x), 1.0, atol=1e-12)


def test_constant_images_have_closed_form_l1_psnr_ssim():
    a, b = 0.2, 0.7
    x, y = torch.full((2, 3, 12, 12), a), torch.full((2, 3, 12, 12), b)
    assert images_to_l1(x, y) == pytest.approx(0.5)
    np.testing.assert_allclose(images_to_psnr(x, y), 10 * math.log10(1 / 0.25), rtol=1e-6)
    # zero variances: SSIM = luminance term (2ab + C1) / (a^2 + b^2 + C1), contrast-structure = C2 / C2
    np.testing.assert_allclose(images_to_ssim(x, y), (2 * a * b + C1) / (a * a + b * b + C1), rtol=1e-6)


def reference_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al.'s SSIM of one (C, H, W) pair with scipy's Gaussian filter (11 taps: radius
    int(3.5 * 1.5 + 0.5) = 5), keeping only the positions whose window lies inside the image."""
    vals = []
    for cx, cy in zip(x, y):
        f = lambda t: gaussian_filter(t, 1.5, truncate=3.5, mode="constant")[5:-5, 5:-5]  # noqa: E731
        mx, my = f(cx), f(cy)
        sxx, syy, sxy = f(cx * cx) - mx ** 2, f(cy * cy) - my ** 2, f(cx * cy) - mx * my
        vals.append(((2 * mx * my + C1) * (2 * sxy + C2)) / ((mx ** 2 + my ** 2 + C1) * (sxx + syy + C2)))
    return float(np.mean(vals))


def test_ssim_matches_an_independent_implementation_and_is_symmetric():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 20, 24, generator=g, dtype=torch.float64)
    y = (x + 0.2 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    ours = images_to_ssim(x, y)
    ref = [reference_ssim(x[i].numpy(), y[i].numpy()) for i in range(4)]
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(images_to_ssim(y, x), ours, rtol=1e-12)
    assert np.all(ours < 1) and np.all(ours > 0)


def test_psnr_of_known_noise_and_shape_errors():
    x = torch.zeros(1, 1, 4, 4)
    y = x.clone()
    y[0, 0, 0, 0] = 1.0  # MSE = 1/16 -> PSNR = 10 log10(16)
    assert images_to_psnr(x, y)[0] == pytest.approx(10 * math.log10(16))
    with pytest.raises(ValueError):
        images_to_l1(x, torch.zeros(1, 1, 4, 5))


# -- data ---------------------------------------------------------------------------------------------


def test_edge_drawing_inks_only_where_the_luminance_jumps():
    flat = np.full((1, 8, 8, 3), 120, dtype=np.uint8)
    assert np.all(edge_drawing(flat) == 255)
    step = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    step[:, :, 4:] = 255
    drawn = edge_drawing(step)[0, :, :, 0]
    # Sobel / 4 of a 0 -> 255 step is 255 on the two columns beside it, 0 elsewhere
    assert np.all(drawn[:, 3:5] == 0) and np.all(drawn[:, :3] == 255) and np.all(drawn[:, 5:] == 255)


def test_synthfaces_pairs_splits_and_pairing():
    edges = load_pairs("synthfaces-edges", n=3, image_size=16)
    assert edges.paired and edges.a.shape == edges.b.shape == (3, 3, 16, 16)
    assert torch.equal(edges.a, torch.from_numpy(edge_drawing(edges.b.permute(0, 2, 3, 1).numpy())).permute(0, 3, 1, 2))
    test = load_pairs("synthfaces-glasses", split="test", n=3, image_size=16)
    train = load_pairs("synthfaces-glasses", split="train", n=3, image_size=16)
    assert test.paired and not train.paired
    assert not torch.equal(test.a, test.b)  # glasses drawn on the same faces
    assert not torch.equal(train.a, test.a)  # splits come from different seeds
    with pytest.raises(BadInputError, match="unknown translation dataset"):
        load_pairs("nonesuch")


def save(folder, names, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / name)


def test_folders_pair_by_name_without_extension(tmp_path):
    save(tmp_path / "d" / "A", ["x/1.png", "2.png", "3.png"])
    save(tmp_path / "d" / "B", ["3.bmp", "x/1.png", "2.png"], seed=1)
    data = load_pairs(str(tmp_path / "d"))
    assert data.paired and data.names == ("2.png", "3.png", "x/1.png")
    from ganeval.sources import open_source

    b_images = {n: im for batch in open_source(str(tmp_path / "d" / "B")).batches(10)
                for n, im in zip(batch.names, batch.images)}
    assert torch.equal(data.b[1], b_images["3.bmp"]) and torch.equal(data.b[2], b_images["x/1.png"])


def test_unmatched_names_are_unpaired_or_an_error_naming_the_file(tmp_path):
    save(tmp_path / "d" / "A", ["1.png", "2.png"])
    save(tmp_path / "d" / "B", ["1.png", "7.png"])
    assert not read_pair_folders(tmp_path / "d" / "A", tmp_path / "d" / "B").paired
    with pytest.raises(BadInputError, match=r"1 image\(s\) in A/ have no partner .* the first: A/2.png"):
        load_pairs(str(tmp_path / "d"), require_pairs=True)
    with pytest.raises(BadInputError, match="same name"):
        match_names(["a.png", "a.jpg"], ["a.png"], "f", True)
    (tmp_path / "e").mkdir()
    with pytest.raises(BadInputError, match="needs subfolders A/ and B/"):
        load_pairs(str(tmp_path / "e"))


# -- translate-eval on identity-like translators --------------------------------------------------------


class Identity(torch.nn.Module):
    """Translates by returning its input (times a weight of 1, so there is a state dict)."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(float(scale)))

    def translate(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        return x * self.w


register_translator_architecture("test-identity", lambda scale=1.0: Identity(scale))


def identity_checkpoint(path, directions=("a2b",), size=16):
    spec = TranslationSpec(kind="test", directions=directions, input_shape=(3, size, size),
                           output_shape=(3, size, size))
    return save_translator(path, Identity(), "test-identity", {"scale": 1.0}, spec, {"note": "test"})


@pytest.fixture
def faces(tmp_path):
    from ganeval.datasets.pairs import write_pair_folders

    return write_pair_folders(load_pairs("synthfaces-glasses", split="test", n=12, image_size=16), tmp_path / "faces")


def test_identity_translator_reproduces_its_targets(tmp_path, faces):
    ckpt = identity_checkpoint(tmp_path / "id.pt", directions=("a2b", "b2a"))
    ev = translate_eval(ckpt, faces / "A", faces / "A", TranslateEvalConfig(metrics=("fid",), extractor="test-tiny"))
    r = {x.metric: x.value for x in ev.run.results}
    assert r["l1_a2b"] == 0.0 and math.isinf(r["psnr_a2b"]) and r["ssim_a2b"] == pytest.approx(1.0)
    assert abs(r["fid_a2b"]) < 1e-6 and r["cycle_l1_a"] == 0.0 and r["cycle_l1_b"] == 0.0
    ev = translate_eval(ckpt, faces / "A", faces / "B", TranslateEvalConfig(metrics=()))
    r = {x.metric: x.value for x in ev.run.results}
    assert r["l1_a2b"] == r["l1_input_a2b"] > 0  # the identity changes nothing: it scores as its input
    assert r["ssim_b2a"] == pytest.approx(r["ssim_input_b2a"])


def test_translate_eval_report_and_cli(tmp_path, faces):
    from ganeval.cli_translate import register

    ckpt = identity_checkpoint(tmp_path / "id.pt")
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:
        pass

    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["translate-eval", str(ckpt), "--a", str(faces / "A"), "--b", str(faces / "B"),
                                      "--extractor", "test-tiny", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    metrics = {row["metric"] for row in data["results"]}
    assert {"fid_a2b", "kid_a2b", "l1_a2b", "psnr_a2b", "ssim_a2b", "l1_input_a2b"} <= metrics
    assert data["provenance"]["translator"]["checkpoint_sha256"]
    assert (out / "index.html").is_file() and (out / "grid_a2b.png").is_file() and (out / "results.csv").is_file()
    grid = np.asarray(Image.open(out / "grid_a2b.png"))
    assert grid.shape == (2 + 8 * 18, 2 + 3 * 18, 3)  # 8 rows of input | output | target, 2-px gaps
    result = CliRunner().invoke(app, ["translate-eval", str(ckpt), "--a", str(faces / "A"), "--b", str(faces / "B"),
                                      "--metrics", "fid,is"])
    assert isinstance(result.exception, BadInputError)


def test_translate_eval_refusals(tmp_path, faces):
    from ganeval.generators import LatentSpec, save_generator

    gen = save_generator(tmp_path / "g.pt", torch.nn.Linear(2, 2), "dcgan", {}, LatentSpec(z_dim=2), {})
    with pytest.raises(BadInputError, match="generator checkpoint"):
        load_translator(gen)
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(BadInputError, match="junk.pt is not a usable ganeval translator"):
        load_translator(tmp_path / "junk.pt")
    ckpt = identity_checkpoint(tmp_path / "id32.pt", size=32)
    with pytest.raises(BadInputError, match="pass --image-size 32"):
        translate_eval(ckpt, faces / "A", faces / "B", TranslateEvalConfig(metrics=()))
    ev = translate_eval(ckpt, faces / "A", faces / "B", TranslateEvalConfig(metrics=(), image_size=32))
    assert ev.run.get("l1_a2b").n_fake == 12
    paths = write_translation_report(ev, tmp_path / "r")
    assert paths["grid_a2b"].is_file()


def test_generator_commands_refuse_a_translator_with_a_pointer_to_translate_eval(tmp_path, faces):
    from ganeval.cli import app

    ckpt = identity_checkpoint(tmp_path / "id.pt")
    for args in (["sample", str(ckpt), "-n", "2", "--out", str(tmp_path / "s")],
                 ["fid", str(faces / "B"), str(ckpt), "--extractor", "test-tiny", "--n-samples", "4"]):
        result = CliRunner().invoke(app, args)
        assert isinstance(result.exception, BadInputError), result.output
        assert "image-to-image translator" in str(result.exception) and "translate-eval" in str(result.exception)
    assert not (tmp_path / "s").exists()
