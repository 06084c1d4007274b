"""Reference trainers: network shapes, one step per trainer, WGAN-GP's penalty, cgan's conditioning,
determinism, resume equivalence (in-process stop, Ctrl-C, SIGKILL of a subprocess), the run folder
(checkpoints that load and sample, manifest, history, sample grids) and the CLI command.

Runs are tiny (digits at 8x8, width 8, a few steps) so the file stays fast; the in-training FID is
checked against ganeval's public evaluate() on samples drawn from the saved best.pt, and class
consistency against the fmnist-cnn classifier applied directly.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from ganeval.config import EvalConfig
from ganeval.datasets import load_dataset
from ganeval.errors import BadInputError
from ganeval.generators import generate, load_generator
from reference_models import available_trainers, get_trainer
from reference_models.cgan import ConditionalDiscriminator, build_generator as build_cgan
from reference_models.cgan import discriminator_input, generator_input
from reference_models.dcgan import build_generator as build_dcgan
from reference_models.evaluation import EVAL_SEED, GRID_COLUMNS
from reference_models.gan import MLPDiscriminator, build_generator as build_gan
from reference_models.loop import (
    BatchFeeder,
    TrainConfig,
    TrainingInterrupted,
    derive_seed,
    make_config,
    train,
)
from reference_models.losses import gradient_penalty
from reference_models.nets import ConvDiscriminator, upsampling_plan
from reference_models.registry import DataInfo, StepContext
from reference_models.state import read_state

TRAINERS = ("gan", "dcgan", "wgan-gp", "cgan")
REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


def tiny(trainer: str, out: Path, **kw) -> TrainConfig:
    """A run of a few milliseconds per step: digits at 8x8, narrow networks, no evaluation."""
    settings = dict(dataset="digits", image_size=8, steps=6, batch_size=16, width=8, z_dim=8, eval_every=0,
                    sample_every=0, checkpoint_every=2, log_every=1, out=str(out), n_critic=2)
    settings.update(kw)
    return make_config(trainer, **settings)


def weights(path: Path) -> dict[str, torch.Tensor]:
    state = read_state(path)
    out = {f"G.{k}": v for k, v in state["generator"].items()}
    out.update({f"D.{k}": v for k, v in state["discriminator"].items()})
    if state["ema"] is not None:
        out.update({f"EMA.{k}": v for k, v in state["ema"].items()})
    for which in ("opt_g", "opt_d"):
        for pid, s in state[which]["state"].items():
            out.update({f"{which}.{pid}.{k}": v for k, v in s.items() if torch.is_tensor(v)})
    return out


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]


# -- architectures -------------------------------------------------------------------------------


@pytest.mark.parametrize("size,channels", [(8, 1), (16, 1), (28, 1), (32, 3), (64, 3)])
def test_conv_architectures_make_every_supported_size(size, channels):
    z = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 2, 1])
    width = 4 if size == 64 else 8
    for g in (build_dcgan(z_dim=5, image_size=size, channels=channels, width=width),
              build_cgan(z_dim=5, n_classes=3, image_size=size, channels=channels, width=width)):
        g.eval()
        out = g(z, labels) if g.__class__.__name__.startswith("Conditional") else g(z)
        assert out.shape == (3, channels, size, size)
        assert float(out.detach().abs().max()) <= 1.0
    x = torch.zeros(3, channels, size, size)
    for norm in ("batch", "layer", "none"):
        assert ConvDiscriminator(size, channels, width, norm=norm)(x).shape == (3,)
    assert ConditionalDiscriminator(3, size, channels, width)(x, labels).shape == (3,)


def test_mlp_architecture_and_unsupported_sizes(tmp_path):
    g = build_gan(z_dim=4, image_shape=[3, 10, 12], width=8).eval()
    assert g(torch.randn(2, 4)).shape == (2, 3, 10, 12)
    assert MLPDiscriminator((3, 10, 12), 8)(torch.zeros(2, 3, 10, 12)).shape == (2,)
    assert upsampling_plan(28) == (7, 2) and upsampling_plan(64) == (4, 4) and upsampling_plan(16) == (4, 2)
    for bad in (7, 9, 18, 100, 2):
        with pytest.raises(BadInputError, match="base \\* 2\\^k"):
            upsampling_plan(bad, "dcgan")
    with pytest.raises(BadInputError, match="cannot make 18x18"):
        train(tiny("dcgan", tmp_path / "run", image_size=18))


def test_building_a_network_leaves_the_global_rng_alone():
    before = torch.get_rng_state()
    build_dcgan(z_dim=4, image_size=16, channels=1, width=4)
    assert torch.equal(torch.get_rng_state(), before)


# -- one training step ---------------------------------------------------------------------------


def _context(trainer: str) -> StepContext:
    config = tiny(trainer, Path("unused"))
    spec = get_trainer(trainer)
    ds = load_dataset("digits", image_size=8, limit=64)
    info = DataInfo(image_shape=ds.image_shape, n_classes=10 if spec.conditional else 0,
                    class_names=ds.class_names if spec.conditional else ())
    models = spec.build(config, info, torch.Generator().manual_seed(0))
    g, d = models.generator.train(), models.discriminator.train()
    feeder = BatchFeeder(ds.images, ds.labels, config.batch_size, torch.Generator().manual_seed(1),
                         torch.device("cpu"))
    return StepContext(generator=g, discriminator=d,
                       opt_g=torch.optim.Adam(g.parameters(), lr=config.lr_g, betas=config.betas),
                       opt_d=torch.optim.Adam(d.parameters(), lr=config.lr_d, betas=config.betas),
                       next_batch=feeder, noise=torch.Generator().manual_seed(2), config=config,
                       z_dim=config.z_dim, n_classes=info.n_classes)


@pytest.mark.parametrize("trainer", TRAINERS)
def test_one_step_changes_every_weight_and_losses_are_finite(trainer):
    ctx = _context(trainer)
    before = {n: p.detach().clone() for net in ("generator", "discriminator")
              for n, p in ((f"{net}.{k}", v) for k, v in getattr(ctx, net).named_parameters())}
    losses = get_trainer(trainer).step(ctx)
    assert set(losses) == set(get_trainer(trainer).loss_names)
    assert all(np.isfinite(v) for v in losses.values()), losses
    after = {f"{net}.{k}": v for net in ("generator", "discriminator")
             for k, v in getattr(ctx, net).named_parameters()}
    unchanged = [n for n in before if torch.equal(before[n], after[n])]
    assert not unchanged


# -- WGAN-GP's gradient penalty ------------------------------------------------------------------


class _Linear(torch.nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere, so the penalty is (||w|| - 1)^2."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w.clone())
        self.b = torch.nn.Parameter(torch.tensor(0.3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w + self.b


def test_gradient_penalty_of_a_linear_critic_is_closed_form():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(1 * 4 * 4, generator=g, dtype=torch.float64)
    w = w / w.norm() * 3.0  # ||w|| = 3 -> penalty (3 - 1)^2 = 4 for any real, fake, eps
    critic = _Linear(w)
    real = torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64)
    fake = torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64)
    eps = torch.rand(5, 1, 1, 1, generator=g, dtype=torch.float64)
    gp = gradient_penalty(critic, real, fake, eps)
    assert float(gp.detach()) == pytest.approx(4.0, rel=1e-12)
    gp.backward()  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    torch.testing.assert_close(critic.w.grad, 2 * (3.0 - 1) * w / 3.0)


def test_gradient_penalty_of_a_quadratic_critic_uses_the_interpolates():
    class Quadratic(torch.nn.Module):  # D(x) = ||x||^2 / 2: gradient x, so the penalty is E(||x_hat|| - 1)^2
        def forward(self, x):
            return 0.5 * (x.flatten(1) ** 2).sum(1)

    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(6, 2, 3, 3, generator=g), torch.randn(6, 2, 3, 3, generator=g)
    eps = torch.rand(6, 1, 1, 1, generator=g)
    x_hat = (eps * real + (1 - eps) * fake).flatten(1).double()
    expected = float(((x_hat.norm(dim=1) - 1) ** 2).mean())
    assert float(gradient_penalty(Quadratic(), real, fake, eps).detach()) == pytest.approx(expected, rel=1e-5)


# -- cgan conditioning ---------------------------------------------------------------------------


def test_cgan_inputs_carry_the_one_hot_class():
    z = torch.randn(4, 6)
    labels = torch.tensor([2, 0, 4, 2])
    gin = generator_input(z, labels, 5)
    assert gin.shape == (4, 11) and torch.equal(gin[:, :6], z)
    assert torch.equal(gin[:, 6:], torch.eye(5)[labels])
    images = torch.rand(4, 3, 7, 7)
    din = discriminator_input(images, labels, 5)
    assert din.shape == (4, 8, 7, 7) and torch.equal(din[:, :3], images)
    for i, k in enumerate(labels.tolist()):
        for c in range(5):
            assert torch.equal(din[i, 3 + c], torch.full((7, 7), 1.0 if c == k else 0.0))
    g = build_cgan(z_dim=6, n_classes=5, image_size=8, channels=1, width=4).eval()
    assert g.net.net[0].in_channels == 6 + 5
    assert ConditionalDiscriminator(5, 8, 1, 4).net.net[0].in_channels == 1 + 5
    same_z = z[:1].expand(5, -1)
    outs = g(same_z, torch.arange(5))
    assert all(not torch.equal(outs[0], outs[k]) for k in range(1, 5))  # the class changes the image


def test_cgan_needs_labels_and_checks_n_classes(tmp_path):
    with pytest.raises(BadInputError, match="more than the 10 classes"):
        train(tiny("cgan", tmp_path / "a", n_classes=11))
    folder = tmp_path / "flat"
    folder.mkdir()
    from PIL import Image
    for i in range(20):
        Image.fromarray(np.full((8, 8), i * 10, dtype=np.uint8)).save(folder / f"{i}.png")
    with pytest.raises(BadInputError, match="needs class labels"):
        train(tiny("cgan", tmp_path / "b", dataset=str(folder), image_size=None))
    result = train(tiny("cgan", tmp_path / "c", n_classes=3, steps=1))
    ckpt = load_generator(result.final)
    assert ckpt.latent.n_classes == 3 and ckpt.latent.class_names == ("0", "1", "2")


# -- determinism and resume ----------------------------------------------------------------------


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    a = train(tiny("dcgan", tmp_path / "a", steps=3))
    b = train(tiny("dcgan", tmp_path / "b", steps=3))
    c = train(tiny("dcgan", tmp_path / "c", steps=3, seed=1))
    assert_same(weights(a.out / "last.pt"), weights(b.out / "last.pt"))
    wa, wc = weights(a.out / "last.pt"), weights(c.out / "last.pt")
    assert all(not torch.equal(wa[k], wc[k]) for k in wa if k.startswith("G.") and k.endswith("weight"))
    assert derive_seed(0, "data") != derive_seed(0, "noise") != derive_seed(1, "noise")


@pytest.mark.parametrize("trainer,ema", [("gan", None), ("dcgan", 0.9), ("wgan-gp", 0.9), ("cgan", None)])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, trainer, ema):
    full = train(tiny(trainer, tmp_path / "full", ema=ema))
    config = tiny(trainer, tmp_path / "cut", ema=ema)

    def stop_at_3(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt  # as a Ctrl-C between steps

    with pytest.raises(TrainingInterrupted, match="--resume") as info:
        train(config, on_step=stop_at_3)
    assert info.value.step == 3 and info.value.exit_code == 130
    state = torch.load(config.out + "/last.pt", weights_only=True)  # plain tensors and values only
    assert state["step"] == 3
    assert json.loads((Path(config.out) / "manifest.json").read_text())["status"] == "interrupted"
    resumed = train(config, resume=True)
    assert resumed.step == 6
    assert_same(weights(full.out / "last.pt"), weights(resumed.out / "last.pt"))
    g_full, g_res = load_generator(full.final), load_generator(resumed.final)
    assert_same(dict(g_full.module.state_dict()), dict(g_res.module.state_dict()))


def test_stopping_after_k_steps_then_extending_equals_one_run(tmp_path):
    full = train(tiny("dcgan", tmp_path / "full"))
    short = train(tiny("dcgan", tmp_path / "short", steps=4))
    assert short.step == 4
    extended = train(tiny("dcgan", tmp_path / "short", steps=6), resume=True)
    assert_same(weights(full.out / "last.pt"), weights(extended.out / "last.pt"))


def test_a_real_sigint_stops_after_the_current_step(tmp_path):
    config = tiny("gan", tmp_path / "sig")
    handler_before = signal.getsignal(signal.SIGINT)

    def ctrl_c(step: int) -> None:
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted) as info:
        train(config, on_step=ctrl_c)
    assert info.value.step == 2 and read_state(tmp_path / "sig" / "last.pt")["step"] == 2
    assert signal.getsignal(signal.SIGINT) is handler_before  # the loop's handler was removed again


_CHILD = textwrap.dedent("""
    import sys, time, torch
    torch.set_num_threads(int(sys.argv[2]))
    from reference_models.loop import make_config, train
    config = make_config("wgan-gp", dataset="digits", image_size=8, steps=8, batch_size=16, width=8, z_dim=8,
                         eval_every=0, sample_every=0, checkpoint_every=2, log_every=1, out=sys.argv[1],
                         n_critic=2, ema=0.9)
    train(config, on_step=lambda step: time.sleep(0.25) if step >= 2 else None)
""")


def test_resume_after_sigkill_of_a_subprocess(tmp_path):
    out = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(out), str(torch.get_num_threads())], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "last.pt").exists():
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the child never wrote last.pt"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    killed_at = read_state(out / "last.pt")["step"]
    assert 2 <= killed_at < 8 and not (out / "final.pt").exists()
    config = make_config("wgan-gp", dataset="digits", image_size=8, steps=8, batch_size=16, width=8, z_dim=8,
                         eval_every=0, sample_every=0, checkpoint_every=2, log_every=1, out=str(out), n_critic=2,
                         ema=0.9)
    resumed = train(config, resume=True)
    full = train(replace(config, out=str(tmp_path / "full")))
    assert resumed.step == full.step == 8
    assert_same(weights(full.out / "last.pt"), weights(resumed.out / "last.pt"))


def test_resume_refusals(tmp_path):
    config = tiny("gan", tmp_path / "r", steps=2)
    with pytest.raises(BadInputError, match="nothing to resume"):
        train(config, resume=True)
    train(config)
    with pytest.raises(BadInputError, match="already holds a training run"):
        train(config)
    with pytest.raises(BadInputError, match="batch_size 16 -> 32"):
        train(replace(config, batch_size=32), resume=True)
    data = (tmp_path / "r" / "last.pt").read_bytes()
    (tmp_path / "r" / "last.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match="last.pt is not a readable ganeval training state"):
        train(config, resume=True)


# -- the run folder ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    """dcgan on digits 16x16 for 4 steps, evaluated at 0, 2, 4 against the whole digits test split."""
    out = tmp_path_factory.mktemp("run") / "dcgan"
    config = make_config("dcgan", dataset="digits", image_size=16, steps=4, batch_size=32, width=8, z_dim=8,
                         eval_every=2, sample_every=2, checkpoint_every=2, log_every=0, n_eval=400, out=str(out))
    return config, train(config)


def test_history_manifest_and_samples(evaluated_run):
    config, result = evaluated_run
    out = result.out
    with open(out / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "fid", "time_s"]
    assert [int(r["step"]) for r in rows] == [0, 2, 4]
    fids = {int(r["step"]): float(r["fid"]) for r in rows}
    assert all(np.isfinite(v) and v > 0 for v in fids.values())
    assert rows[0]["loss_d"] == "" and np.isfinite(float(rows[1]["loss_d"]))
    best_step = min((2, 4), key=lambda s: fids[s])
    assert result.best_step == best_step and result.best_fid == pytest.approx(fids[best_step], rel=1e-9)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["step"] == 4 and manifest["seed"] == 0
    assert manifest["config"] == config.to_dict()
    train_split = load_dataset("digits", image_size=16)
    assert manifest["dataset"]["fingerprint"] == train_split.fingerprint
    assert manifest["dataset"]["n_train"] == len(train_split) and manifest["dataset"]["n_heldout"] == 359
    assert manifest["best"] == {"step": best_step, "fid": pytest.approx(fids[best_step]), "path": "best.pt"}
    assert manifest["fid_untrained"] == pytest.approx(fids[0])
    assert 0 <= manifest["fid_real_vs_real"] < fids[0]  # real vs real is far below an untrained generator
    assert manifest["versions"]["torch"] == torch.__version__
    assert manifest["evaluation"]["extractor"] == "fmnist-cnn" and manifest["evaluation"]["n_fake"] == 400
    assert manifest["started_utc"] and manifest["ended_utc"]

    from PIL import Image
    for name in ("step_000002.png", "step_000004.png", "latest.png"):
        with Image.open(out / "samples" / name) as im:
            assert im.size == (GRID_COLUMNS * 18 + 2, 8 * 18 + 2) and im.mode == "L"
    assert (out / "samples" / "latest.png").read_bytes() == (out / "samples" / "step_000004.png").read_bytes()


def test_best_checkpoint_reproduces_its_fid_through_the_public_pipeline(evaluated_run, tmp_path):
    from ganeval.evaluate import evaluate

    _, result = evaluated_run
    gen = load_generator(result.best)
    assert gen.architecture == "dcgan" and gen.latent.image_shape == (1, 16, 16)
    assert gen.provenance["step"] == result.best_step and gen.provenance["trainer"] == "dcgan"
    fake = torch.cat([b for b, _ in generate(gen, 400, seed=EVAL_SEED, batch_size=128)])
    assert fake.shape == (400, 3, 16, 16) and fake.dtype == torch.uint8
    real = load_dataset("digits", split="test", image_size=16).images
    np.save(tmp_path / "fake.npy", fake.numpy())
    np.save(tmp_path / "real.npy", real.numpy())
    run = evaluate(tmp_path / "real.npy", tmp_path / "fake.npy",
                   EvalConfig(metrics=("fid",), extractor="fmnist-cnn", protocol="tf", use_cache=False,
                              batch_size=500))
    assert run.get("fid").value == pytest.approx(result.best_fid, rel=1e-5)
    final = load_generator(result.final)
    again = torch.cat([b for b, _ in generate(final, 16, seed=3)])
    assert torch.equal(again, torch.cat([b for b, _ in generate(final, 16, seed=3)]))


def test_cgan_class_consistency_matches_the_classifier(tmp_path):
    from ganeval.extractors import get_extractor
    from ganeval.preprocess import prepare

    config = make_config("cgan", dataset="fashion-mnist", limit=256, steps=2, batch_size=32, width=8, z_dim=8,
                         eval_every=2, sample_every=2, n_eval=100, out=str(tmp_path / "cgan"))
    result = train(config)
    with open(result.out / "history.csv", newline="") as fh:
        last = list(csv.DictReader(fh))[-1]
    assert "cc_9" in last and 0 <= float(last["class_consistency"]) <= 1
    gen = load_generator(result.final)
    assert gen.latent.class_names[0] == "T-shirt/top"
    images, labels = zip(*generate(gen, 100, seed=EVAL_SEED))
    images, labels = torch.cat(images), torch.cat(labels)
    cnn = get_extractor("fmnist-cnn")
    with torch.no_grad():
        predicted = cnn(prepare(images, "tf", cnn.info))["logits"].argmax(1)
    per_class = [float((predicted[labels == k] == k).float().mean()) for k in range(10)]
    for k in range(10):
        assert float(last[f"cc_{k}"]) == pytest.approx(per_class[k], abs=1e-9)
    assert float(last["class_consistency"]) == pytest.approx(np.mean(per_class), abs=1e-9)
    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["dataset"]["classes_are_fashion_mnist"] is True
    from PIL import Image
    with Image.open(result.out / "samples" / "latest.png") as im:
        assert im.size[1] == 10 * (28 + 2) + 2  # one row per class


# -- CLI -----------------------------------------------------------------------------------------


@pytest.fixture()
def cli_app():
    from ganeval.cli_train import register

    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so typer keeps "train-reference" as a subcommand name
        pass

    return app


def test_cli_trains_and_resumes(cli_app, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["train-reference", "dcgan", "--dataset", "digits", "--image-size", "8", "--steps", "2", "--batch-size",
            "16", "--width", "8", "--z-dim", "8", "--eval-every", "0", "--sample-every", "0", "--out", str(out),
            "--quiet"]
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    assert "finished dcgan at step 2" in result.output and (out / "final.pt").is_file()
    result = runner.invoke(cli_app, ["train-reference", "dcgan", "--out", str(out), "--resume", "--steps", "3",
                                     "--quiet"])
    assert result.exit_code == 0, result.output
    assert read_state(out / "last.pt")["step"] == 3
    result = runner.invoke(cli_app, ["train-reference", "dcgan", "--out", str(out), "--resume", "--batch-size", "8"])
    assert isinstance(result.exception, BadInputError) and "batch_size" in str(result.exception)
    result = runner.invoke(cli_app, ["train-reference", "nonesuch", "--out", str(tmp_path / "x")])
    assert isinstance(result.exception, BadInputError) and "wgan-gp" in str(result.exception)


def test_cli_help_lists_the_registered_trainers(cli_app):
    result = CliRunner().invoke(cli_app, ["train-reference", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for name in available_trainers():
        assert name in text
    assert "Gulrajani" in text and "--resume" in text and "digits" in text
