"""The FID Inception port against pytorch-fid and torch-fidelity, loaded with the same (stand-in) weights.

Each peer runs its own pipeline on the same images (pytorch-fid reads PNG files through its own
dataset and resizes inside its model; torch-fidelity takes uint8 tensors or reads the folders
itself); ganeval runs prepare(protocol) + InceptionExtractor. Features must agree to 1e-4 relative,
and FID computed with each peer's own Frechet function must agree between the peer's features and
ganeval's. The real weights file is not available offline, so tests/inception_weights.py builds a
seeded, calibrated stand-in with pytorch-fid's layout.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from inception_weights import save_inception_weights, sha256_of, smooth_images
from PIL import Image

from ganeval.datasets.fashion_mnist import load_fashion_mnist
from ganeval.errors import BadInputError, MissingWeightsError
from ganeval.extractors import ExtractorOptions, available_extractors, get_extractor
from ganeval.extractors.inception import FIDInceptionV3, InceptionExtractor, load_reference
from ganeval.preprocess import prepare

REL_TOL = 1e-4


def relative_error(ours: np.ndarray | torch.Tensor, peer: np.ndarray | torch.Tensor) -> float:
    """Worst per-image ||ours - peer|| / ||peer|| over the rows of two (N, d) arrays."""
    ours, peer = np.asarray(ours, dtype=np.float64), np.asarray(peer, dtype=np.float64)
    assert ours.shape == peer.shape
    return float(np.max(np.linalg.norm(ours - peer, axis=1) / np.linalg.norm(peer, axis=1)))


def max_error_vs_scale(ours, peer) -> float:
    """Largest elementwise difference relative to the largest peer feature."""
    ours, peer = np.asarray(ours, dtype=np.float64), np.asarray(peer, dtype=np.float64)
    return float(np.abs(ours - peer).max() / np.abs(peer).max())


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    return save_inception_weights(tmp_path_factory.mktemp("inception"))


@pytest.fixture(scope="module")
def extractor(weights_file):
    return InceptionExtractor.from_file(weights_file, sha256_of(weights_file))


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    """name -> (uint8 (N, 3, H, W), PNG files): Fashion-MNIST 28x28 (grey as RGB), colour 64x64, 299x299."""
    g = torch.Generator().manual_seed(7)
    fmnist, _ = load_fashion_mnist("test")
    sets = {
        "fmnist28": torch.from_numpy(fmnist[[0, 1, 2]]).unsqueeze(1).repeat(1, 3, 1, 1),
        "colour64": smooth_images(2, 64, g),
        "full299": smooth_images(1, 299, g),
    }
    root = tmp_path_factory.mktemp("pngs")
    out = {}
    for name, images in sets.items():
        folder = root / name
        folder.mkdir()
        files = []
        for i, im in enumerate(images):
            files.append(folder / f"{i:03d}.png")
            Image.fromarray(im.permute(1, 2, 0).numpy()).save(files[-1])
        out[name] = (images, files)
    return out


@pytest.fixture(scope="module")
def pytorch_fid_model(weights_file):
    """pytorch-fid's InceptionV3([3]) with its download replaced by our weights file."""
    from pytorch_fid import inception as pf

    state_dict = torch.load(weights_file, weights_only=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pf, "load_state_dict_from_url", lambda *args, **kwargs: state_dict)
        return pf.InceptionV3([3]).eval()


@pytest.fixture(scope="module")
def pytorch_fid_features(pytorch_fid_model, image_sets):
    """Pool features from pytorch-fid's own pipeline: its PNG dataset, ToTensor, resize in the model."""
    from pytorch_fid.fid_score import get_activations

    return {name: get_activations([str(f) for f in files], pytorch_fid_model, batch_size=len(files),
                                  dims=2048, device="cpu", num_workers=0)
            for name, (_, files) in image_sets.items()}


@pytest.fixture(scope="module")
def torch_fidelity_net(weights_file):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    return FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                       feature_extractor_weights_path=str(weights_file))


@pytest.fixture(scope="module")
def torch_fidelity_features(torch_fidelity_net, image_sets):
    """(pool, logits_unbiased) from torch-fidelity's extractor fed the uint8 tensors."""
    with torch.no_grad():
        return {name: tuple(t.numpy() for t in torch_fidelity_net(images)) for name, (images, _) in image_sets.items()}


def ganeval_features(extractor, images: torch.Tensor, protocol: str) -> dict[str, np.ndarray]:
    out = extractor(prepare(images, protocol, extractor.info))
    return {k: v.double().numpy() for k, v in out.items()}


@pytest.fixture(scope="module")
def ours_pytorch_fid(extractor, image_sets):
    """ganeval's features of every set under the pytorch-fid protocol."""
    return {name: ganeval_features(extractor, images, "pytorch-fid") for name, (images, _) in image_sets.items()}


@pytest.fixture(scope="module")
def ours_tf(extractor, image_sets):
    """ganeval's features of every set under the tf protocol."""
    return {name: ganeval_features(extractor, images, "tf") for name, (images, _) in image_sets.items()}


# ---- features -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["fmnist28", "colour64", "full299"])
def test_pool_matches_pytorch_fid(ours_pytorch_fid, pytorch_fid_features, name):
    peer = pytorch_fid_features[name]
    ours = ours_pytorch_fid[name]["pool"]
    assert relative_error(ours, peer) <= REL_TOL
    assert max_error_vs_scale(ours, peer) <= REL_TOL


def test_stand_in_weights_tell_images_apart(pytorch_fid_features):
    # Parity on near-constant features would prove little: the stand-in network must separate images.
    pool = np.concatenate(list(pytorch_fid_features.values()))
    assert np.std(pool, axis=0).mean() > 0.05 * np.abs(pool).mean()


@pytest.mark.parametrize("name", ["fmnist28", "colour64", "full299"])
def test_pool_and_unbiased_logits_match_torch_fidelity(ours_tf, torch_fidelity_features, name):
    peer_pool, peer_logits = torch_fidelity_features[name]
    ours = ours_tf[name]
    assert relative_error(ours["pool"], peer_pool) <= REL_TOL
    assert max_error_vs_scale(ours["pool"], peer_pool) <= REL_TOL
    assert relative_error(ours["logits"], peer_logits) <= REL_TOL
    assert max_error_vs_scale(ours["logits"], peer_logits) <= REL_TOL


def test_protocols_give_different_features(pytorch_fid_features, torch_fidelity_features):
    # The two resizes differ on upsampled 28x28 images; the tests above would pass vacuously if
    # ganeval's protocols (or the peers) were the same thing.
    tf_pool = torch_fidelity_features["fmnist28"][0]
    assert relative_error(pytorch_fid_features["fmnist28"], tf_pool) > 100 * REL_TOL


def test_reference_form_is_pytorch_fid_bit_for_bit(weights_file, image_sets, pytorch_fid_features):
    """The plain port computes exactly what pytorch-fid computes; the fast form is checked above."""
    x01 = image_sets["colour64"][0][:1].float() / 255  # pytorch-fid's ToTensor, then its in-model resize
    x = torch.nn.functional.interpolate(x01, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
    reference = load_reference(torch.load(weights_file, weights_only=True), str(weights_file))
    with torch.no_grad():
        ours = reference(x)["pool"].double().numpy()
    assert np.array_equal(ours, pytorch_fid_features["colour64"][:1])


def test_batch_size_does_not_change_features(extractor, image_sets, ours_tf):
    single = extractor(prepare(image_sets["colour64"][0][1:2], "tf", extractor.info))["pool"]
    assert relative_error(single, ours_tf["colour64"]["pool"][1:2]) <= 1e-5  # computed in a batch of 2


# ---- FID through each peer's own Frechet function ------------------------------------------------

def frechet_stats(features: np.ndarray, dims: slice) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)[:, dims]
    return f.mean(axis=0), np.cov(f, rowvar=False)


def test_fid_matches_pytorch_fid_on_its_own_frechet(ours_pytorch_fid, pytorch_fid_features):
    # The full 2048-d sqrtm takes ~40 s here (see the slow test below); this fast check uses the
    # first 2 feature dimensions so that 3 + 3 images give full-rank covariances.
    from pytorch_fid.fid_score import calculate_frechet_distance

    dims = slice(0, 2)
    real = pytorch_fid_features["fmnist28"]
    fake = np.concatenate([pytorch_fid_features["colour64"], pytorch_fid_features["full299"]])
    ours_real = ours_pytorch_fid["fmnist28"]["pool"]
    ours_fake = np.concatenate([ours_pytorch_fid[n]["pool"] for n in ("colour64", "full299")])
    peer_fid = calculate_frechet_distance(*frechet_stats(real, dims), *frechet_stats(fake, dims))
    ours_fid = calculate_frechet_distance(*frechet_stats(ours_real, dims), *frechet_stats(ours_fake, dims))
    assert peer_fid > 1e-3
    assert ours_fid == pytest.approx(peer_fid, rel=1e-4)
    # mean and covariance of all 2048 dimensions, which any FID is a function of
    assert relative_error(ours_real.mean(0, keepdims=True), real.mean(0, keepdims=True)) <= REL_TOL
    sigma_peer, sigma_ours = np.cov(real, rowvar=False), np.cov(ours_real, rowvar=False)
    assert np.linalg.norm(sigma_ours - sigma_peer) <= 10 * REL_TOL * np.linalg.norm(sigma_peer)


@pytest.mark.slow
def test_full_fid_matches_pytorch_fid_end_to_end(ours_pytorch_fid, image_sets, weights_file, monkeypatch):
    """pytorch-fid's calculate_fid_given_paths on the PNG folders vs its Frechet on ganeval's features."""
    from pytorch_fid import fid_score
    from pytorch_fid import inception as pf

    state_dict = torch.load(weights_file, weights_only=True)
    monkeypatch.setattr(pf, "load_state_dict_from_url", lambda *args, **kwargs: state_dict)
    folders = [str(image_sets[n][1][0].parent) for n in ("fmnist28", "colour64")]
    peer_fid = fid_score.calculate_fid_given_paths(folders, batch_size=4, device="cpu", dims=2048, num_workers=0)
    ours = [ours_pytorch_fid[n]["pool"] for n in ("fmnist28", "colour64")]
    ours_fid = fid_score.calculate_frechet_distance(*frechet_stats(ours[0], slice(None)),
                                                    *frechet_stats(ours[1], slice(None)))
    assert ours_fid == pytest.approx(peer_fid, rel=1e-3)


@pytest.mark.slow
def test_full_fid_matches_torch_fidelity_end_to_end(ours_tf, image_sets, weights_file):
    """torch-fidelity's calculate_metrics on the PNG folders vs its Frechet on ganeval's features."""
    import torch_fidelity
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    folders = [str(image_sets[n][1][0].parent) for n in ("fmnist28", "colour64")]
    peer = torch_fidelity.calculate_metrics(input1=folders[0], input2=folders[1], fid=True, cuda=False,
                                            cache=False, verbose=False, batch_size=4,
                                            feature_extractor_weights_path=str(weights_file))
    ours = [ours_tf[n]["pool"] for n in ("fmnist28", "colour64")]
    stats = [dict(zip(("mu", "sigma"), frechet_stats(f, slice(None)))) for f in ours]
    ours_fid = fid_statistics_to_metric(stats[0], stats[1], verbose=False)[KEY_METRIC_FID]
    assert ours_fid == pytest.approx(peer[KEY_METRIC_FID], rel=1e-3)


# ---- loading, declaration, registry -------------------------------------------------------------

def test_info_declares_the_fid_inception(extractor, weights_file):
    info = extractor.info
    assert info.name == "inception"
    assert info.weights_sha256 == sha256_of(weights_file) and len(info.weights_sha256) == 64
    assert info.input_size == (299, 299)
    assert info.features == {"pool": 2048, "logits": 1008}
    assert info.value_range == "signed"


def test_torch_fidelity_module_has_the_same_state_dict_keys(torch_fidelity_net):
    """torch-fidelity's weights file is its module's state dict: same names and shapes as ours."""
    peer = torch_fidelity_net
    peer_shapes = {k: tuple(v.shape) for k, v in peer.state_dict().items()}
    our_shapes = {k: tuple(v.shape) for k, v in FIDInceptionV3().state_dict().items()}
    assert peer_shapes == our_shapes
    load_reference(peer.state_dict(), "torch-fidelity's module")  # loads as is, strict


def test_state_dict_without_num_batches_tracked_loads(weights_file):
    sd = {k: v for k, v in torch.load(weights_file, weights_only=True).items() if "num_batches_tracked" not in k}
    without = load_reference(sd, "x").state_dict()
    with_counts = load_reference(torch.load(weights_file, weights_only=True), "y").state_dict()
    assert without.keys() == with_counts.keys()
    assert all(torch.equal(without[k], with_counts[k]) for k in without if "num_batches_tracked" not in k)


def test_missing_key_is_bad_input_naming_the_file(weights_file, tmp_path):
    sd = torch.load(weights_file, weights_only=True)
    del sd["Mixed_6c.branch7x7_2.conv.weight"]
    path = tmp_path / "broken.pth"
    torch.save(sd, path)
    with pytest.raises(BadInputError) as err:
        InceptionExtractor.from_file(path, "x")
    assert str(path) in str(err.value) and "Mixed_6c.branch7x7_2.conv.weight" in str(err.value)
    assert err.value.exit_code == 2


def test_wrong_shape_is_bad_input_naming_the_file(weights_file, tmp_path):
    sd = torch.load(weights_file, weights_only=True)
    sd["fc.weight"] = torch.zeros(1000, 2048)  # torchvision's ImageNet head, not the 1008-class graph
    path = tmp_path / "imagenet_head.pth"
    torch.save(sd, path)
    with pytest.raises(BadInputError, match="fc.weight has shape \\(1000, 2048\\), expected \\(1008, 2048\\)") as err:
        InceptionExtractor.from_file(path, "x")
    assert str(path) in str(err.value)


@pytest.mark.parametrize("content", ["garbage", "tensor", "pickled-code"])
def test_unreadable_or_foreign_files_are_bad_input(tmp_path, content):
    path = tmp_path / f"{content}.pth"
    if content == "garbage":
        path.write_bytes(b"\x00not a torch file" * 100)
    elif content == "tensor":
        torch.save(torch.zeros(3), path)
    else:
        torch.save({"x": Image.new("RGB", (1, 1))}, path)  # needs unpickling a class: refused
    with pytest.raises(BadInputError) as err:
        InceptionExtractor.from_file(path, "x")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_forward_rejects_unprepared_input(extractor):
    with pytest.raises(BadInputError, match="299, 299"):
        extractor(torch.zeros(1, 3, 64, 64))


def test_registered_with_its_weights_entry():
    entry = available_extractors()["inception"]
    assert entry.weights == "inception" and entry.offline is False and not entry.takes_argument


def test_registry_build_uses_the_verified_weights(monkeypatch, weights_file):
    from ganeval import weights

    digest = sha256_of(weights_file)
    calls = []

    def fake_resolve(name, explicit=None, allow_download=True):
        calls.append((name, explicit, allow_download))
        return weights.ResolvedWeights(path=weights_file, sha256=digest, where="explicit")

    monkeypatch.setattr(weights, "resolve_weights", fake_resolve)
    net = get_extractor("inception", ExtractorOptions(weights_path=str(weights_file), allow_download=False))
    assert isinstance(net, InceptionExtractor) and net.info.weights_sha256 == digest
    assert calls == [("inception", str(weights_file), False)]


def test_registry_refuses_unverified_or_missing_weights(weights_file):
    # The stand-in file's sha256 is not the published 6726825d...: an explicit file must be rejected.
    with pytest.raises(MissingWeightsError):
        get_extractor("inception", ExtractorOptions(weights_path=str(weights_file)))
    with pytest.raises(MissingWeightsError):  # conftest: empty weights dirs, GANEVAL_OFFLINE=1
        get_extractor("inception", ExtractorOptions())
