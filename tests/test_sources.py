"""ganeval.sources: every input kind gives the pixels that were written, in a fixed order, or a
one-line BadInputError naming the file. Inputs are built in tmp_path from numpy arrays."""

from __future__ import annotations

import gc
import io
import json
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganeval.sources as sources
from ganeval.errors import BadInputError
from ganeval.sources import (
    THREAD_PREFIX,
    ImageSource,
    decode_image,
    detect_layout,
    is_stats_file,
    open_input,
    open_source,
)
from ganeval.stats import FeatureStats

H, W = 6, 8  # deliberately not square, so a swapped H and W cannot pass


def rand_rgb(rng: np.random.Generator, n: int, h: int = H, w: int = W) -> np.ndarray:
    return rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def save(path: Path, img: Image.Image, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def read_all(src: ImageSource, batch_size: int = 4) -> tuple[np.ndarray, list[str]]:
    images, names = [], []
    for batch in src.batches(batch_size):
        assert batch.images.dtype == torch.uint8 and batch.images.ndim == 4 and batch.images.shape[1] == 3
        assert batch.images.shape[0] == len(batch.names) <= batch_size
        images.append(batch.images.numpy())
        names += batch.names
    return np.concatenate(images), names


def nchw(nhwc: np.ndarray) -> np.ndarray:
    return nhwc.transpose(0, 3, 1, 2)


def expect_bad(fn, *needles: str) -> str:
    with pytest.raises(BadInputError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, (needle, msg)
    return msg


def decode_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def rgb_folder(root: Path, arrays: np.ndarray, ext: str = ".png", **kw) -> list[str]:
    names = []
    for i, a in enumerate(arrays):
        names.append(f"img{i:03d}{ext}")
        save(root / names[-1], Image.fromarray(a), **kw)
    return names


# -- pixels of each format -------------------------------------------------------------------


@pytest.mark.parametrize("ext,kw", [(".png", {}), (".bmp", {}), (".tif", {}), (".tiff", {"compression": "tiff_lzw"}),
                                    (".webp", {"lossless": True})])
def test_lossless_formats_round_trip(tmp_path, ext, kw):
    arrays = rand_rgb(np.random.default_rng(1), 5)
    rgb_folder(tmp_path, arrays, ext, **kw)
    images, names = read_all(open_source(tmp_path), batch_size=2)
    assert images.shape == (5, 3, H, W)
    np.testing.assert_array_equal(images, nchw(arrays))


@pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
def test_jpeg_matches_an_independent_decoder(tmp_path):
    from torchvision.io import decode_jpeg

    arrays = rand_rgb(np.random.default_rng(2), 3, 16, 24)
    rgb_folder(tmp_path, arrays, ".jpg", quality=95)
    images, _ = read_all(open_source(tmp_path))
    for i in range(3):
        data = (tmp_path / f"img{i:03d}.jpg").read_bytes()
        ref = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8)).numpy()
        assert np.abs(images[i].astype(int) - ref.astype(int)).max() <= 1


def test_grayscale_and_bilevel_repeat_to_three_channels(tmp_path):
    rng = np.random.default_rng(3)
    gray = rng.integers(0, 256, (H, W), dtype=np.uint8)
    bits = rng.integers(0, 2, (H, W)).astype(bool)
    save(tmp_path / "a_gray.png", Image.fromarray(gray, mode="L"))
    save(tmp_path / "b_bits.png", Image.fromarray(bits).convert("1"))
    assert Image.open(tmp_path / "b_bits.png").mode == "1"
    images, _ = read_all(open_source(tmp_path))
    for c in range(3):
        np.testing.assert_array_equal(images[0, c], gray)
        np.testing.assert_array_equal(images[1, c], np.where(bits, 255, 0))


def test_alpha_is_dropped_not_composited(tmp_path):
    rng = np.random.default_rng(4)
    rgba = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
    rgba[0, :, 3] = 0  # fully transparent pixels keep their colour
    la = rng.integers(0, 256, (H, W, 2), dtype=np.uint8)
    save(tmp_path / "a.png", Image.fromarray(rgba, mode="RGBA"))
    save(tmp_path / "b.png", Image.fromarray(la, mode="LA"))
    images, _ = read_all(open_source(tmp_path))
    np.testing.assert_array_equal(images[0], rgba[:, :, :3].transpose(2, 0, 1))
    np.testing.assert_array_equal(images[1], np.repeat(la[None, :, :, 0], 3, axis=0))


@pytest.mark.parametrize("transparency", [None, 0])
def test_palette_images_give_their_palette_colours(tmp_path, transparency):
    rng = np.random.default_rng(5)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    index = rng.integers(0, 256, (H, W), dtype=np.uint8)
    img = Image.fromarray(index, mode="P")
    img.putpalette(palette.tobytes())
    kw = {} if transparency is None else {"transparency": transparency}
    save(tmp_path / "p.png", img, **kw)
    with Image.open(tmp_path / "p.png") as check:
        assert check.mode == "P" and ("transparency" in check.info) == (transparency is not None)
    images, _ = read_all(open_source(tmp_path))
    np.testing.assert_array_equal(images[0], palette[index].transpose(2, 0, 1))


EDGE_16 = np.array([0, 1, 128, 129, 256, 385, 386, 32767, 32768, 65150, 65279, 65535], dtype=np.int64)


def expected_8bit(v: np.ndarray) -> np.ndarray:
    return np.clip(np.round(v / 257.0), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("fmt,mode", [("png", "I;16"), ("tiff", "I;16"), ("tiff", "I;16B")])
def test_16bit_grayscale_is_scaled_by_257(tmp_path, fmt, mode):
    rng = np.random.default_rng(6)
    v = rng.integers(0, 65536, (H, W)).astype(np.int64)
    v.flat[: EDGE_16.size] = EDGE_16
    raw = v.astype(">u2" if mode.endswith("B") else "<u2").tobytes()
    img = Image.frombuffer(mode, (W, H), raw, "raw", mode, 0, 1)
    save(tmp_path / f"deep.{fmt}", img)
    with Image.open(tmp_path / f"deep.{fmt}") as check:
        assert check.mode.startswith("I;16")
    images, _ = read_all(open_source(tmp_path))
    for c in range(3):
        np.testing.assert_array_equal(images[0, c], expected_8bit(v))


def test_32bit_integer_tiff_is_scaled_and_clipped(tmp_path):
    v = np.arange(H * W, dtype=np.int32).reshape(H, W) * 1500
    v[0, 0], v[0, 1] = -700, 70000  # below 0 and above 65535 clip to 0 and 255
    save(tmp_path / "i.tif", Image.fromarray(v))
    images, _ = read_all(open_source(tmp_path))
    np.testing.assert_array_equal(images[0, 1], expected_8bit(v.astype(np.int64)))
    assert images[0, 0, 0, 0] == 0 and images[0, 0, 0, 1] == 255


def test_cmyk_is_converted_to_rgb(tmp_path):
    cmyk = {(0, 0, 0, 0): (255, 255, 255), (255, 0, 0, 0): (0, 255, 255), (0, 255, 0, 0): (255, 0, 255),
            (0, 0, 255, 0): (255, 255, 0), (0, 0, 0, 255): (0, 0, 0)}
    img = Image.new("CMYK", (len(cmyk), 1))
    for x, value in enumerate(cmyk):
        img.putpixel((x, 0), value)
    save(tmp_path / "c.tif", img)
    images, _ = read_all(open_source(tmp_path))
    np.testing.assert_array_equal(images[0, :, 0, :].T, np.array(list(cmyk.values()), dtype=np.uint8))


def test_float_images_are_refused_at_open(tmp_path):
    save(tmp_path / "ok.png", Image.fromarray(rand_rgb(np.random.default_rng(7), 1)[0]))
    save(tmp_path / "float.tif", Image.fromarray(np.zeros((H, W), np.float32)))
    expect_bad(lambda: open_source(tmp_path), "float.tif", "mode F")


def test_decode_image_names_the_image_in_errors():
    expect_bad(lambda: decode_image(b"", "empty.png"), "empty.png", "0 bytes")
    expect_bad(lambda: decode_image(b"this is not an image", "text.png"), "text.png", "not an image")
    buf = io.BytesIO()
    Image.fromarray(rand_rgb(np.random.default_rng(8), 1, 32, 32)[0]).save(buf, "PNG")
    expect_bad(lambda: decode_image(buf.getvalue()[:-60], "cut.png"), "cut.png", "truncated")
    arr = decode_image(buf.getvalue(), "whole.png")
    assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8


def test_pixels_match_pytorch_fid_on_a_folder_of_mixed_modes(tmp_path):
    """pytorch-fid reads Image.open(p).convert('RGB') in sorted order; for 8-bit modes we must agree."""
    from pytorch_fid.fid_score import IMAGE_EXTENSIONS as FID_EXTS, ImagePathDataset
    import torchvision.transforms as TF

    rng = np.random.default_rng(9)
    save(tmp_path / "a.png", Image.fromarray(rand_rgb(rng, 1)[0]))
    save(tmp_path / "b.png", Image.fromarray(rng.integers(0, 256, (H, W), dtype=np.uint8), mode="L"))
    save(tmp_path / "c.png", Image.fromarray(rng.integers(0, 256, (H, W, 4), dtype=np.uint8), mode="RGBA"))
    pal = Image.fromarray(rng.integers(0, 256, (H, W), dtype=np.uint8), mode="P")
    pal.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tobytes())
    save(tmp_path / "d.png", pal)
    save(tmp_path / "e.bmp", Image.fromarray(rand_rgb(rng, 1)[0]))
    files = sorted(f for ext in FID_EXTS for f in tmp_path.glob(f"*.{ext}"))
    ds = ImagePathDataset(files, transforms=TF.ToTensor())
    theirs = np.stack([(ds[i] * 255).round().to(torch.uint8).numpy() for i in range(len(ds))])
    ours, names = read_all(open_source(tmp_path))
    assert names == [f.name for f in files]
    np.testing.assert_array_equal(ours, theirs)


# -- arrays ----------------------------------------------------------------------------------


def layouts(rgb: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (array as stored, expected uint8 NCHW RGB), all built from one NHWC RGB stack."""
    gray = rgb[..., 0]
    g3 = np.repeat(gray[:, None], 3, axis=1)
    alpha = np.full(rgb.shape[:3] + (1,), 7, np.uint8)
    return {
        "NHWC": (rgb, nchw(rgb)),
        "NCHW": (nchw(rgb).copy(), nchw(rgb)),
        "NHW": (gray, g3),
        "NHW1": (gray[..., None], g3),
        "N1HW": (gray[:, None], g3),
        "NHWC-rgba": (np.concatenate([rgb, alpha], axis=3), nchw(rgb)),
        "NCHW-rgba": (nchw(np.concatenate([rgb, alpha], axis=3)).copy(), nchw(rgb)),
        "NHWC-fortran": (np.asfortranarray(rgb), nchw(rgb)),
    }


@pytest.mark.parametrize("fmt", ["npy", "npz"])
@pytest.mark.parametrize("layout", list(layouts(np.zeros((1, 5, 7, 3), np.uint8))))
def test_array_layouts(tmp_path, fmt, layout):
    rgb = rand_rgb(np.random.default_rng(10), 5, 5, 7)
    stored, expected = layouts(rgb)[layout]
    path = tmp_path / f"imgs.{fmt}"
    np.save(path, stored) if fmt == "npy" else np.savez(path, images=stored, labels=np.arange(5))
    src = open_source(path)
    assert src.kind == "array" and len(src) == 5
    images, names = read_all(src, batch_size=2)
    np.testing.assert_array_equal(images, expected)
    assert len(names) == 5 and all("imgs" in n for n in names)


def test_uint16_arrays_are_scaled_by_257(tmp_path):
    v = np.random.default_rng(11).integers(0, 65536, (2, 4, 5, 3)).astype(np.int64)
    v.flat[: EDGE_16.size] = EDGE_16
    for dtype in ("<u2", ">u2"):
        np.save(tmp_path / "deep.npy", v.astype(dtype))
        images, _ = read_all(open_source(tmp_path / "deep.npy"))
        np.testing.assert_array_equal(images, nchw(expected_8bit(v)))


def test_layout_rule_for_ambiguous_shapes():
    assert detect_layout((10, 64, 64, 3)) == "NHWC"
    assert detect_layout((10, 3, 64, 64)) == "NCHW"
    assert detect_layout((10, 1, 28, 28)) == "NCHW"
    assert detect_layout((10, 28, 28)) == "NHW"
    assert detect_layout((10, 3, 4, 4)) == "NHWC"  # both dims could be channels: NHWC, as documented
    with pytest.raises(ValueError):
        detect_layout((10, 5, 6, 7))


def test_ambiguous_array_is_read_as_nhwc(tmp_path):
    arr = np.random.default_rng(12).integers(0, 256, (2, 4, 6, 3), dtype=np.uint8)  # dims 1 and 3 in {1,3,4}
    np.save(tmp_path / "a.npy", arr)
    images, _ = read_all(open_source(tmp_path / "a.npy"))
    np.testing.assert_array_equal(images, nchw(arr))


def test_npy_is_memory_mapped_without_pickle(tmp_path, monkeypatch):
    np.save(tmp_path / "a.npy", rand_rgb(np.random.default_rng(13), 3))
    calls = []
    real_load = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    src = open_source(tmp_path / "a.npy")
    read_all(src)
    assert calls and all(c.get("mmap_mode") == "r" and c.get("allow_pickle") is False for c in calls)
    assert isinstance(src._mmap, np.memmap)


def test_npz_array_choice(tmp_path):
    rng = np.random.default_rng(14)
    a = rand_rgb(rng, 2)
    labels = np.arange(2)
    cases = {"single.npz": {"whatever": a}, "images.npz": {"images": a, "labels": labels},
             "x.npz": {"x": a, "y": labels}, "samples.npz": {"samples": a, "z": labels}}
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
        images, _ = read_all(open_source(tmp_path / name))
        np.testing.assert_array_equal(images, nchw(a))
    np.savez_compressed(tmp_path / "deflated.npz", images=a, labels=labels)
    np.testing.assert_array_equal(read_all(open_source(tmp_path / "deflated.npz"), 1)[0], nchw(a))
    np.savez(tmp_path / "arr0.npz", a, labels)  # arr_0, arr_1
    np.testing.assert_array_equal(read_all(open_source(tmp_path / "arr0.npz"))[0], nchw(a))
    np.savez(tmp_path / "amb.npz", fakes=a, reals=a)
    expect_bad(lambda: open_source(tmp_path / "amb.npz"), "amb.npz", "fakes, reals")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int8", "bool"])
def test_non_uint8_arrays_are_refused(tmp_path, dtype):
    np.save(tmp_path / "bad.npy", np.zeros((2, 4, 4, 3), dtype=dtype))
    expect_bad(lambda: open_source(tmp_path / "bad.npy"), "bad.npy", "uint8", dtype)


def test_damaged_npz_stream_is_reported_while_reading(tmp_path):
    path = tmp_path / "big.npz"
    np.savez_compressed(path, images=rand_rgb(np.random.default_rng(29), 40, 32, 32))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle: middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    src = open_source(path)  # the .npy header at the start of the member is intact
    expect_bad(lambda: read_all(src, batch_size=8), "big.npz")
    assert not decode_threads()


def test_bad_arrays(tmp_path):
    obj = np.empty(2, dtype=object)
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    expect_bad(lambda: open_source(tmp_path / "obj.npy"), "obj.npy")
    for name, shape in [("flat.npy", (5, 5)), ("odd.npy", (2, 5, 6, 7)), ("five.npy", (1, 2, 3, 4, 5)),
                        ("none.npy", (0, 4, 4, 3))]:
        np.save(tmp_path / name, np.zeros(shape, np.uint8))
        expect_bad(lambda: open_source(tmp_path / name), name)
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    expect_bad(lambda: open_source(tmp_path / "junk.npy"), "junk.npy")
    (tmp_path / "junk.npz").write_bytes(b"not a zip either")
    expect_bad(lambda: open_source(tmp_path / "junk.npz"), "junk.npz")


# -- folders: order, recursion, hidden files -------------------------------------------------


def test_folder_order_is_sorted_recursive_and_skips_hidden(tmp_path):
    wanted = ["a.png", "a/z.png", "b/c/deep.bmp", "c.PNG", "d.JpEg", "e.tif"]
    ignored = [".hidden.png", ".git/x.png", "b/.cache/y.png", "notes.txt", "model.pt"]
    order = [4, 0, 10, 2, 7, 5, 1, 9, 3, 8, 6]  # creation order differs from name order
    everything = wanted + ignored
    for k in order:
        name = everything[k]
        value = np.full((H, W, 3), k * 10, np.uint8)
        fmt = "PNG" if name.endswith((".txt", ".pt")) else None
        save(tmp_path / name, Image.fromarray(value), format=fmt)
    images, names = read_all(open_source(tmp_path), batch_size=4)
    assert names == sorted(wanted) == wanted
    np.testing.assert_array_equal(images[:, 0, 0, 0], [everything.index(n) * 10 for n in wanted])


def test_batch_size_does_not_change_pixels_or_order(tmp_path):
    rgb_folder(tmp_path, rand_rgb(np.random.default_rng(15), 7))
    src = open_source(tmp_path)
    ref, ref_names = read_all(src, batch_size=1)
    for bs in (3, 7, 100):
        images, names = read_all(src, batch_size=bs)
        assert names == ref_names
        np.testing.assert_array_equal(images, ref)
    expect_bad(lambda: src.batches(0), "batch size")


# -- archives --------------------------------------------------------------------------------


def make_tree(root: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(16)
    files = {"b.png": rand_rgb(rng, 1)[0], "a/x.png": rand_rgb(rng, 1)[0], "a/y.bmp": rand_rgb(rng, 1)[0],
             "c.webp": rand_rgb(rng, 1)[0], "z/deep/q.tiff": rand_rgb(rng, 1)[0]}
    for name, arr in files.items():
        kw = {"lossless": True} if name.endswith(".webp") else {}
        save(root / name, Image.fromarray(arr), **kw)
    (root / "readme.txt").write_text("not an image")
    return files


def make_archive(folder: Path, out: Path) -> None:
    """Members in reverse name order, with "./" prefixes in tars and macOS junk in zips."""
    files = sorted((p for p in folder.rglob("*") if p.is_file()), reverse=True)
    if out.name.endswith(".zip"):
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("a/", b"")
            for p in files:
                zf.write(p, p.relative_to(folder).as_posix())
            zf.writestr("__MACOSX/._b.png", b"\x00\x05\x16\x07 apple double")
    else:
        mode = "w:gz" if out.name.endswith(("gz", "tgz")) else "w"
        with tarfile.open(out, mode) as tf:
            tf.add(folder / "a", arcname="./a", recursive=False)
            for p in files:
                tf.add(p, arcname="./" + p.relative_to(folder).as_posix())
            info = tarfile.TarInfo("./a/link.png")
            info.type, info.linkname = tarfile.SYMTYPE, "../b.png"
            tf.addfile(info)


@pytest.mark.parametrize("archive", ["imgs.zip", "imgs.tar", "imgs.tar.gz", "imgs.tgz"])
def test_archives_equal_the_folder(tmp_path, archive):
    folder = tmp_path / "folder"
    files = make_tree(folder)
    make_archive(folder, tmp_path / archive)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    f_src, a_src = open_source(folder), open_source(tmp_path / archive)
    assert a_src.kind == "archive" and len(a_src) == len(f_src) == len(files)
    f_img, f_names = read_all(f_src, 2)
    a_img, a_names = read_all(a_src, 2)
    assert a_names == f_names == sorted(files)
    np.testing.assert_array_equal(a_img, f_img)
    np.testing.assert_array_equal(a_img, nchw(np.stack([files[n] for n in sorted(files)])))
    assert a_src.fingerprint() == f_src.fingerprint()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing extracted


def test_archive_member_names_are_only_labels(tmp_path):
    rng = np.random.default_rng(17)
    arrays = rand_rgb(rng, 3)
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        for name, a in zip(["../up.png", "/abs.png", "ok.png"], arrays):
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, "PNG")
            zf.writestr(name, buf.getvalue())
    before = sorted(tmp_path.parent.iterdir())
    images, names = read_all(open_source(tmp_path / "evil.zip"))
    assert names == ["../up.png", "abs.png", "ok.png"]
    np.testing.assert_array_equal(images, nchw(arrays))
    assert sorted(tmp_path.parent.iterdir()) == before


def test_bad_archives(tmp_path):
    (tmp_path / "junk.zip").write_bytes(os.urandom(300))
    expect_bad(lambda: open_source(tmp_path / "junk.zip"), "junk.zip")
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b" + os.urandom(300))
    expect_bad(lambda: open_source(tmp_path / "junk.tar.gz"), "junk.tar.gz")
    with zipfile.ZipFile(tmp_path / "textonly.zip", "w") as zf:
        zf.writestr("a.txt", "hello")
    expect_bad(lambda: open_source(tmp_path / "textonly.zip"), "textonly.zip", "no images")


def test_corrupt_member_is_skipped_or_reported(tmp_path):
    rng = np.random.default_rng(18)
    with zipfile.ZipFile(tmp_path / "m.zip", "w") as zf:
        for i, a in enumerate(rand_rgb(rng, 2)):
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, "PNG")
            zf.writestr(f"good{i}.png", buf.getvalue())
        zf.writestr("bad.png", b"garbage")
    expect_bad(lambda: open_source(tmp_path / "m.zip"), "m.zip/bad.png", "not an image")
    src = open_source(tmp_path / "m.zip", skip_bad=True)
    _, names = read_all(src)
    assert names == ["good0.png", "good1.png"] and [n for n, _ in src.skipped] == ["bad.png"]


# -- fingerprints ----------------------------------------------------------------------------


def test_fingerprint_tracks_content_and_nothing_else(tmp_path):
    arrays = rand_rgb(np.random.default_rng(19), 4)
    names = rgb_folder(tmp_path, arrays)
    fp = open_source(tmp_path).fingerprint()
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert open_source(tmp_path).fingerprint() == fp
    os.utime(tmp_path / names[0], (1, 1))  # timestamps do not determine pixels
    (tmp_path / "notes.txt").write_text("ignored")
    assert open_source(tmp_path).fingerprint() == fp

    changed = arrays[1].copy()
    changed[0, 0, 0] ^= 1
    save(tmp_path / names[1], Image.fromarray(changed))
    fp_changed = open_source(tmp_path).fingerprint()
    assert fp_changed != fp
    save(tmp_path / names[1], Image.fromarray(arrays[1]))
    assert open_source(tmp_path).fingerprint() == fp

    save(tmp_path / "sub" / "new.png", Image.fromarray(arrays[0]))
    assert open_source(tmp_path).fingerprint() not in (fp, fp_changed)
    (tmp_path / "sub" / "new.png").unlink()
    (tmp_path / names[3]).unlink()
    fp_removed = open_source(tmp_path).fingerprint()
    assert fp_removed not in (fp, fp_changed)
    save(tmp_path / "renamed.png", Image.fromarray(arrays[3]))
    assert open_source(tmp_path).fingerprint() not in (fp, fp_changed, fp_removed)


def test_array_fingerprint(tmp_path):
    a = rand_rgb(np.random.default_rng(20), 3)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "a.npz", images=a, labels=np.arange(3))
    fp = open_source(tmp_path / "a.npy").fingerprint()
    assert open_source(tmp_path / "a.npy").fingerprint() == fp
    assert open_source(tmp_path / "a.npz").fingerprint() == fp  # same array bytes, same pixels
    b = a.copy()
    b[2, 5, 7, 2] ^= 1
    np.save(tmp_path / "a.npy", b)
    assert open_source(tmp_path / "a.npy").fingerprint() != fp


# -- validation ------------------------------------------------------------------------------


def test_bad_paths_and_files(tmp_path):
    good = rand_rgb(np.random.default_rng(21), 1)[0]
    expect_bad(lambda: open_source(tmp_path / "nope"), "nope")
    (tmp_path / "empty").mkdir()
    expect_bad(lambda: open_source(tmp_path / "empty"), "empty", "no images")
    (tmp_path / "textonly").mkdir()
    (tmp_path / "textonly" / "a.txt").write_text("x")
    expect_bad(lambda: open_source(tmp_path / "textonly"), "textonly", "no images")
    (tmp_path / "notes.txt").write_text("x")
    expect_bad(lambda: open_source(tmp_path / "notes.txt"), "notes.txt")
    save(tmp_path / "one.png", Image.fromarray(good))
    expect_bad(lambda: open_source(tmp_path / "one.png"), "one.png", "single image")

    for bad_name, content, needle in [("zero.png", b"", "0 bytes"), ("text.jpg", b"hello, world", "not an image")]:
        d = tmp_path / bad_name.split(".")[0]
        save(d / "fine.png", Image.fromarray(good))
        (d / bad_name).write_bytes(content)
        expect_bad(lambda: open_source(d), bad_name, needle)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_found_while_decoding(tmp_path, fmt):
    arrays = rand_rgb(np.random.default_rng(22), 4, 64, 64)  # noise: the pixel data dwarfs the header
    for i, a in enumerate(arrays):
        save(tmp_path / f"{i}.img.{fmt.lower()}", Image.fromarray(a), format=fmt)
    cut = tmp_path / f"2.img.{fmt.lower()}"
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    src = open_source(tmp_path)  # the header is intact: the scan accepts it
    assert len(src) == 4
    expect_bad(lambda: read_all(src, batch_size=1), cut.name, "truncated")
    assert not decode_threads()


def test_mixed_sizes(tmp_path):
    rng = np.random.default_rng(23)
    sizes = {"a.png": (6, 8), "b.png": (6, 8), "c.png": (5, 5), "d.png": (5, 5), "e.png": (6, 8), "f.png": (6, 8)}
    arrays = {n: rng.integers(0, 256, hw + (3,), dtype=np.uint8) for n, hw in sizes.items()}
    for n, a in arrays.items():
        save(tmp_path / n, Image.fromarray(a))
    expect_bad(lambda: open_source(tmp_path), str(tmp_path), "a.png", "8x6", "c.png", "5x5", "--allow-mixed-sizes")

    src = open_source(tmp_path, allow_mixed_sizes=True)
    got = [(b.names, b.images.numpy()) for b in src.batches(3)]
    assert [names for names, _ in got] == [["a.png", "b.png"], ["c.png", "d.png"], ["e.png", "f.png"]]
    for names, images in got:
        np.testing.assert_array_equal(images, nchw(np.stack([arrays[n] for n in names])))


def test_skip_bad_counts(tmp_path):
    arrays = rand_rgb(np.random.default_rng(24), 3, 32, 32)
    rgb_folder(tmp_path, arrays)
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.png").write_bytes(b"plain text")
    save(tmp_path / "trunc.png", Image.fromarray(arrays[0]))
    (tmp_path / "trunc.png").write_bytes((tmp_path / "trunc.png").read_bytes()[:200])

    src = open_source(tmp_path, skip_bad=True)
    assert len(src) == 4  # the truncated file passes the header scan
    assert sorted(n for n, _ in src.skipped) == ["text.png", "zero.png"]
    images, names = read_all(src, batch_size=2)
    assert names == ["img000.png", "img001.png", "img002.png"]
    np.testing.assert_array_equal(images, nchw(arrays))
    assert sorted(n for n, _ in src.skipped) == ["text.png", "trunc.png", "zero.png"]
    assert src.describe()["skipped"] == 3
    read_all(src)  # a second pass does not count its skips twice
    assert len(src.skipped) == 3


def test_skip_bad_with_nothing_readable(tmp_path):
    (tmp_path / "zero.png").write_bytes(b"")
    expect_bad(lambda: open_source(tmp_path, skip_bad=True), str(tmp_path), "no readable images", "zero.png")
    (tmp_path / "zero.png").unlink()
    save(tmp_path / "trunc.png", Image.fromarray(rand_rgb(np.random.default_rng(25), 1, 32, 32)[0]))
    (tmp_path / "trunc.png").write_bytes((tmp_path / "trunc.png").read_bytes()[:200])
    src = open_source(tmp_path, skip_bad=True)
    expect_bad(lambda: read_all(src), "no readable images", "trunc.png")


# -- background decoding ---------------------------------------------------------------------


def test_decoding_runs_in_background_threads_that_end(tmp_path, monkeypatch):
    rgb_folder(tmp_path, rand_rgb(np.random.default_rng(26), 24))
    seen = []
    real = sources.decode_image

    def recording(data, name):
        seen.append(threading.current_thread().name)
        return real(data, name)

    monkeypatch.setattr(sources, "decode_image", recording)
    assert not decode_threads()
    src = open_source(tmp_path)
    read_all(src, batch_size=4)
    assert len(seen) == 24 and all(n.startswith(THREAD_PREFIX) for n in seen)
    assert not decode_threads()

    for batch in src.batches(2):  # an early break closes the generator and joins its threads
        assert decode_threads()
        break
    gc.collect()
    assert not decode_threads()

    it = src.batches(2)
    next(it)
    it.close()
    assert not decode_threads()


# -- stats files and describe ----------------------------------------------------------------


def test_stats_files_are_detected(tmp_path):
    rng = np.random.default_rng(27)
    feats = rng.normal(size=(20, 4))
    stats = FeatureStats(dim=4)
    stats.update(feats)
    stats.save(tmp_path / "own.npz")
    np.savez_compressed(tmp_path / "pfid.npz", mu=feats.mean(0), sigma=np.cov(feats, rowvar=False))
    np.savez(tmp_path / "imgs.npz", images=rand_rgb(rng, 2))
    np.save(tmp_path / "mu.npy", feats.mean(0))
    (tmp_path / "junk.npz").write_bytes(b"nope")

    assert is_stats_file(tmp_path / "own.npz") and is_stats_file(tmp_path / "pfid.npz")
    assert not any(is_stats_file(tmp_path / n) for n in ("imgs.npz", "mu.npy", "junk.npz", "missing.npz"))
    loaded = open_input(tmp_path / "pfid.npz")
    assert isinstance(loaded, FeatureStats)
    np.testing.assert_allclose(loaded.mean, feats.mean(0))
    np.testing.assert_allclose(open_input(tmp_path / "own.npz").cov, np.cov(feats, rowvar=False))
    assert isinstance(open_input(tmp_path / "imgs.npz"), ImageSource)
    expect_bad(lambda: open_source(tmp_path / "pfid.npz"), "pfid.npz", "statistics")


def test_describe_is_json(tmp_path):
    rgb_folder(tmp_path / "d", rand_rgb(np.random.default_rng(28), 2))
    src = open_source(tmp_path / "d")
    desc = json.loads(json.dumps(src.describe()))
    assert desc == {"path": str(tmp_path / "d"), "kind": "folder", "n": 2, "fingerprint": src.fingerprint(),
                    "skipped": 0}
