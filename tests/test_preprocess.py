"""Preprocessing protocols against the peers' own resize code on the same images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from inception_weights import pytorch_fid_layout  # tests/ helper module

from ganeval.errors import BadInputError
from ganeval.extractors.base import ExtractorInfo
from ganeval.preprocess import (
    DEFAULT_PROTOCOL, PROTOCOLS, get_protocol, prepare, resize_pil_bicubic, resize_tf_bilinear,
)

INFO_299 = ExtractorInfo(name="test", weights_sha256="none", input_size=(299, 299), features={"pool": 8})


def random_images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, h, w), generator=g, dtype=torch.uint8)


def edge_images() -> torch.Tensor:
    """Extremes the resizers clip or overshoot on: black/white stripes and a checkerboard, 28x28."""
    x = torch.zeros(2, 3, 28, 28, dtype=torch.uint8)
    x[0, :, :, ::2] = 255
    x[1, :, ::2, ::2] = 255
    x[1, :, 1::2, 1::2] = 255
    return x


def tf1_peer(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    return interpolate_bilinear_2d_like_tensorflow1x(x.float(), size=size, align_corners=False)


def cleanfid_peer(images: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """clean-fid's own "clean" resizer on HWC uint8 arrays -> float32 (N, 3, h, w) pixel values."""
    from cleanfid.resize import make_resizer

    h, w = size
    resize = make_resizer("PIL", False, "bicubic", (w, h))
    return np.stack([resize(img.permute(1, 2, 0).numpy()).transpose(2, 0, 1) for img in images])


# ---- tf: TensorFlow 1.x bilinear as torch-fidelity reproduces it ----------------------------------

@pytest.mark.parametrize("in_size, out_size", [
    ((28, 28), (299, 299)),      # Fashion-MNIST upsampled
    ((64, 64), (299, 299)),
    ((512, 384), (299, 299)),    # downsampling, non-square
    ((32, 32), (224, 160)),      # non-square output
])
def test_tf_resize_matches_torch_fidelity(in_size, out_size):
    x = random_images(2, *in_size, seed=1).float()
    ours = resize_tf_bilinear(x, out_size)
    peer = tf1_peer(x, out_size)
    assert ours.shape == peer.shape == (2, 3, *out_size)
    torch.testing.assert_close(ours, peer, rtol=0, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), oh=st.integers(1, 60), ow=st.integers(1, 60),
       seed=st.integers(0, 2**16))
def test_tf_resize_matches_torch_fidelity_any_size(h, w, oh, ow, seed):
    x = random_images(1, h, w, seed).float()
    torch.testing.assert_close(resize_tf_bilinear(x, (oh, ow)), tf1_peer(x, (oh, ow)), rtol=0, atol=1e-5)


def test_tf_prepare_is_resize_then_tf_graph_normalisation():
    images = torch.cat([random_images(2, 28, 28, seed=2), edge_images()])
    expected = (tf1_peer(images, (299, 299)) - 128) / 128  # the TF graph's Sub(128), Mul(1/128)
    out = prepare(images, "tf", INFO_299)
    assert out.dtype == torch.float32 and out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_tf_has_no_half_pixel_offset():
    # Upsampling 2x: TF1's legacy mapping puts output pixel 2k exactly on source pixel k, so the
    # even rows/columns reproduce the source; torch's half-pixel mapping would blend neighbours.
    x = random_images(1, 8, 8, seed=3).float()
    up = resize_tf_bilinear(x, (16, 16))
    assert torch.equal(up[..., ::2, ::2], x)


# ---- pytorch-fid: what its InceptionV3 does to its input ------------------------------------------

def pytorch_fid_network_input(images: torch.Tensor) -> torch.Tensor:
    """The tensor pytorch-fid's InceptionV3 feeds its first conv, given uint8 images.

    Its own pipeline: ToTensor (x / 255), then inside the model F.interpolate to 299 and 2x - 1.
    The forward stops at the first block; the (uninitialised) weights are never used.
    """
    from pytorch_fid import inception as pf

    with torch.device("meta"):
        layout = pytorch_fid_layout()
    state_dict = layout.to_empty(device="cpu").state_dict()
    original = pf.load_state_dict_from_url
    pf.load_state_dict_from_url = lambda *args, **kwargs: state_dict
    try:
        model = pf.InceptionV3([3]).eval()
    finally:
        pf.load_state_dict_from_url = original

    captured = {}

    class Stop(Exception):
        pass

    def grab(module, args):
        captured["x"] = args[0].clone()
        raise Stop

    model.blocks[0].register_forward_pre_hook(grab)
    with pytest.raises(Stop), torch.no_grad():
        model(images.float() / 255)
    return captured["x"]


def test_pytorch_fid_matches_pytorch_fid_model_input():
    images = torch.cat([random_images(2, 28, 28, seed=4), edge_images()])
    peer = pytorch_fid_network_input(images)
    torch.testing.assert_close(prepare(images, "pytorch-fid", INFO_299), peer, rtol=0, atol=1e-6)
    big = random_images(1, 400, 333, seed=5)  # downsampling path
    torch.testing.assert_close(prepare(big, "pytorch-fid", INFO_299), pytorch_fid_network_input(big),
                               rtol=0, atol=1e-6)


# ---- clean: clean-fid's PIL bicubic resizer -------------------------------------------------------

@pytest.mark.parametrize("in_size, out_size", [((28, 28), (299, 299)), ((500, 375), (299, 299)),
                                               ((40, 30), (100, 80))])
def test_clean_resize_matches_cleanfid(in_size, out_size):
    images = random_images(2, *in_size, seed=6)
    peer = torch.from_numpy(cleanfid_peer(images, out_size))
    ours = resize_pil_bicubic(images.float(), out_size)
    assert ours.shape == peer.shape
    torch.testing.assert_close(ours, peer, rtol=0, atol=1e-5)


def test_clean_prepare_clips_overshoot_and_normalises_like_cleanfid():
    images = edge_images()  # bicubic overshoots beyond [0, 255] on hard edges: the peer clips
    peer = torch.from_numpy(cleanfid_peer(images, (299, 299)))
    assert peer.min() == 0 and peer.max() == 255
    out = prepare(images, "clean", INFO_299)
    torch.testing.assert_close(out, (peer - 128) / 128, rtol=0, atol=1e-6)


# ---- identity at the input size -------------------------------------------------------------------

def test_peers_are_identity_at_equal_size_and_so_is_prepare():
    images = random_images(2, 299, 299, seed=7)
    x = images.float()
    assert torch.equal(tf1_peer(x, (299, 299)), x)
    assert torch.equal(torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False), x)
    assert np.array_equal(cleanfid_peer(images, (299, 299)), x.numpy())
    assert torch.equal(prepare(images, "tf", INFO_299), (x - 128) / 128)
    assert torch.equal(prepare(images, "clean", INFO_299), (x - 128) / 128)
    torch.testing.assert_close(prepare(images, "pytorch-fid", INFO_299), x / 127.5 - 1, rtol=0, atol=1e-6)


# ---- value ranges, shapes, errors -----------------------------------------------------------------

def test_unit_value_range_applies_mean_and_std_per_channel():
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    info = ExtractorInfo(name="u", weights_sha256="none", input_size=(16, 16), features={"pool": 4},
                         value_range="unit", mean=mean, std=std)
    images = random_images(3, 16, 16, seed=8)
    expected = (images.numpy().astype(np.float64) / 255 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    for protocol in PROTOCOLS:
        np.testing.assert_allclose(prepare(images, protocol, info).numpy(), expected, atol=1e-5, rtol=0)
    small = random_images(2, 8, 8, seed=9)  # resized by the protocol first, then normalised
    resized = tf1_peer(small, (16, 16)).double().numpy()
    expected = (resized / 255 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(prepare(small, "tf", info).numpy(), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_output_shape_dtype_range_and_empty_batch(protocol):
    info = ExtractorInfo(name="t", weights_sha256="none", input_size=(40, 30), features={"pool": 4})
    out = prepare(torch.cat([random_images(2, 17, 23, seed=10), edge_images()[:, :, :17, :23]]), protocol, info)
    assert out.shape == (4, 3, 40, 30) and out.dtype == torch.float32 and out.is_contiguous()
    assert out.min() >= -1 - 1e-6 and out.max() <= 1 + 1e-6
    empty = prepare(torch.zeros(0, 3, 17, 23, dtype=torch.uint8), protocol, info)
    assert empty.shape == (0, 3, 40, 30)


def test_unknown_protocol_names_the_choices():
    with pytest.raises(BadInputError) as err:
        get_protocol("tensorflow")
    assert "'tensorflow'" in str(err.value)
    for name in ("tf", "pytorch-fid", "clean"):
        assert name in str(err.value)
    with pytest.raises(BadInputError):
        prepare(random_images(1, 8, 8, seed=0), "bicubic", INFO_299)


@pytest.mark.parametrize("bad", [
    torch.zeros(1, 3, 8, 8),                          # float, not uint8
    torch.zeros(1, 1, 8, 8, dtype=torch.uint8),       # one channel
    torch.zeros(3, 8, 8, dtype=torch.uint8),          # no batch axis
    np.zeros((1, 3, 8, 8), dtype=np.uint8),           # not a tensor
])
def test_bad_image_batches_are_bad_input(bad):
    with pytest.raises(BadInputError, match="uint8 \\(N, 3, H, W\\)"):
        prepare(bad, "tf", INFO_299)


def test_bad_value_range_is_bad_input():
    info = ExtractorInfo(name="v", weights_sha256="none", input_size=(8, 8), features={"pool": 4},
                         value_range="imagenet")
    with pytest.raises(BadInputError, match="'imagenet'"):
        prepare(random_images(1, 8, 8, seed=0), "tf", info)


def test_protocols_registry_and_default():
    assert set(PROTOCOLS) == {"tf", "pytorch-fid", "clean"}
    assert all(p.name == name and p.description for name, p in PROTOCOLS.items())
    assert DEFAULT_PROTOCOL == "tf"
