"""pix2pix (reference_models.pix2pix, .translation): U-Net shapes and skips, seeded dropout, the PatchGAN's
output shape and receptive field (checked against the closed-form window of its convolutions), one
training step, checkpoint round trip and refusal by the generator tools, resume equivalence, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from ganeval.errors import BadInputError
from ganeval.generators import load_generator
from ganeval.translate_eval import load_translator
from reference_models import pix2pix
from reference_models.loop import TrainingInterrupted
from reference_models.state import read_state
from reference_models.translation import (
    PatchDiscriminator, SeededDropout, TranslationStep, UNetGenerator, make_translation_config, patch_layers,
    receptive_field, set_dropout_noise, train_translation,
)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


def tiny(out: Path, **kw):
    """pix2pix on 16 px synthfaces edge pairs, 4-channel networks: milliseconds per step."""
    settings = dict(dataset="synthfaces-edges", image_size=16, n_train=12, n_eval=4, steps=6, batch_size=4, width=4,
                    eval_every=3, sample_every=3, checkpoint_every=2, log_every=1, out=str(out))
    settings.update(kw)
    return make_translation_config("pix2pix", **settings)


def state_tensors(path: Path) -> dict[str, torch.Tensor]:
    s = read_state(path)
    out = {f"G.{k}": v for k, v in s["generator"].items()}
    out.update({f"D.{k}": v for k, v in s["discriminator"].items()})
    for which in ("opt_g", "opt_d"):
        for pid, st in s[which]["state"].items():
            out.update({f"{which}.{pid}.{k}": v for k, v in st.items() if torch.is_tensor(v)})
    return out


# -- networks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [8, 16, 32, 64])
def test_unet_maps_images_to_images_of_the_same_size(size):
    net = UNetGenerator(size, 3, 1, width=4).eval()
    y = net(torch.rand(2, 3, size, size) * 2 - 1)
    assert y.shape == (2, 1, size, size)
    assert float(y.detach().abs().max()) <= 1.0


@pytest.mark.parametrize("size", [4, 12, 28, 1024])
def test_unet_refuses_sides_it_cannot_halve_down_to_one(size):
    with pytest.raises(BadInputError, match="power-of-two"):
        UNetGenerator(size)


def test_the_finest_skip_connection_carries_the_input_past_the_bottleneck():
    """Cut the whole inner path (decoder level 1 outputs zeros): the output still follows the input, and a
    one-pixel change moves only the output pixels the outermost conv -> transposed conv pair can reach."""
    torch.manual_seed(0)
    net = UNetGenerator(16, 3, 3, width=4).double().eval()
    with torch.no_grad():
        for p in net.up[1].parameters():
            p.zero_()
        net.up[1][2].running_mean.zero_()  # BatchNorm: (0 - 0) / sqrt(1 + eps) * 0 + 0 = 0
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64) * 2 - 1
    inner = net.up[1](torch.randn(1, 16, 4, 4, dtype=torch.float64))
    assert torch.equal(inner, torch.zeros(1, 4, 8, 8, dtype=torch.float64))
    assert net.down[0](x).shape == (1, 4, 8, 8)
    p = (9, 6)
    x2 = x.clone()
    x2[0, :, p[0], p[1]] += 0.5
    changed = (net(x2) - net(x)).abs().amax(dim=(0, 1)) > 0
    assert changed.any()
    # conv k4 s2 p1: encoder position o sees input rows 2o-1 .. 2o+2; transposed conv k4 s2 p1: output rows
    # 2o-1 .. 2o+2 come from encoder position o. So a change at row r reaches rows 2*o_lo-1 .. 2*o_hi+2.
    def reach(r: int) -> tuple[int, int]:
        o_lo, o_hi = -(-(r - 2) // 2), (r + 1) // 2
        return max(0, 2 * o_lo - 1), min(15, 2 * o_hi + 2)

    rows, cols = changed.nonzero(as_tuple=True)
    (r0, r1), (c0, c1) = reach(p[0]), reach(p[1])
    assert int(rows.min()) >= r0 and int(rows.max()) <= r1 and int(cols.min()) >= c0 and int(cols.max()) <= c1
    assert bool(changed[p[0], p[1]])


def test_seeded_dropout_uses_its_generator_and_is_off_at_eval_unless_seeded():
    net = UNetGenerator(16, 3, 3, width=4)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    global_state = torch.get_rng_state()
    outs = []
    for seed in (1, 1, 2):
        set_dropout_noise(net, torch.Generator().manual_seed(seed))
        net.train()
        outs.append(net(x))
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    assert torch.equal(torch.get_rng_state(), global_state)
    net.eval()
    plain = net(x)
    assert torch.equal(plain, net(x))
    net.set_eval_dropout(torch.Generator().manual_seed(5))
    noisy1 = net(x)
    net.set_eval_dropout(torch.Generator().manual_seed(5))
    noisy2 = net(x)
    net.set_eval_dropout(None)
    assert torch.equal(noisy1, noisy2) and not torch.equal(noisy1, plain) and torch.equal(net(x), plain)
    drop = SeededDropout(0.5).train()
    with pytest.raises(RuntimeError, match="generator"):
        drop(x)
    n_dropout = sum(isinstance(m, SeededDropout) for m in net.modules())
    assert n_dropout == 3


def test_receptive_field_formula_gives_the_papers_sizes():
    # Isola et al.: 1 stride-2 layer -> 16x16, 2 -> 34x34, 3 -> 70x70 patches
    assert [receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]
    assert [patch_layers(s) for s in (16, 32, 64, 128, 256)] == [1, 1, 2, 3, 3]


@pytest.mark.parametrize("size,out_side", [(32, 14), (64, 14)])
def test_patchgan_output_shape(size, out_side):
    d = PatchDiscriminator(6, 8, patch_layers(size)).eval()
    assert d(torch.zeros(2, 6, size, size)).shape == (2, 1, out_side, out_side)


@pytest.mark.parametrize("size", [32, 64])
def test_one_patch_logit_depends_exactly_on_its_window(size):
    """Gradient of one output w.r.t. the input is nonzero only inside the window the convolutions (k 4,
    padding 1, strides 2..2,1,1) map it to, and nonzero everywhere in it; the window's side is the receptive field."""
    torch.manual_seed(0)
    n_down = patch_layers(size)
    d = PatchDiscriminator(3, 4, n_down).double().eval()
    x = torch.rand(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    out = d(x)
    i, j = out.shape[2] // 2, out.shape[3] // 2
    (grad,) = torch.autograd.grad(out[0, 0, i, j], x)
    support = grad.abs().sum(dim=(0, 1)) > 0

    def window(o: int) -> tuple[int, int]:
        lo, hi = o, o
        for stride in [1, 1] + [2] * n_down:  # from the output back to the input
            lo, hi = lo * stride - 1, hi * stride - 1 + 3
        return lo, hi

    (r0, r1), (c0, c1) = window(i), window(j)
    assert 0 <= r0 and r1 < size and r1 - r0 + 1 == receptive_field(n_down) == d.receptive_field
    expected = torch.zeros(size, size, dtype=torch.bool)
    expected[r0:r1 + 1, c0:c1 + 1] = True
    assert torch.equal(support, expected)


# -- training -----------------------------------------------------------------------------------------


def test_one_step_changes_every_weight_and_losses_are_finite():
    from ganeval.datasets.pairs import load_pairs

    config = make_translation_config("pix2pix", width=4, out="unused")
    data = load_pairs("synthfaces-edges", n=4, image_size=16)
    models = pix2pix.build(config, data, torch.Generator().manual_seed(0))
    g, d = models.generator.train(), models.discriminator.train()
    noise = torch.Generator().manual_seed(1)
    set_dropout_noise(g, noise)
    named = [*g.named_parameters(), *(("D." + k, v) for k, v in d.named_parameters())]
    before = {n: p.detach().clone() for n, p in named}
    ctx = TranslationStep(g, d, torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999)),
                          torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999)),
                          lambda: (data.a.float() / 127.5 - 1, data.b.float() / 127.5 - 1), noise, config)
    losses = pix2pix.step(ctx)
    assert set(losses) == {"loss_d", "loss_g", "loss_g_gan", "loss_l1"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert losses["loss_g"] == pytest.approx(losses["loss_g_gan"] + 100 * losses["loss_l1"], rel=1e-5)
    after = dict([*g.named_parameters(), *(("D." + k, v) for k, v in d.named_parameters())])
    unchanged = [n for n in before if torch.equal(before[n], after[n])]
    assert not unchanged, unchanged


def test_run_writes_checkpoints_that_load_as_translators_and_not_as_generators(tmp_path):
    result = train_translation(tiny(tmp_path / "run"))
    out = result.out
    for name in ("final.pt", "best.pt", "untrained.pt", "last.pt", "manifest.json", "history.csv", "index.html",
                 "results.json", "samples/latest.png"):
        assert (out / name).is_file(), name
    raw = torch.load(out / "final.pt", weights_only=True)
    assert raw["format"] == "ganeval-translator" and raw["translation"]["directions"] == ["a2b"]
    assert raw["translation"]["input_shape"] == [3, 16, 16]
    loaded = load_translator(out / "final.pt")
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    fresh = UNetGenerator(16, 3, 3, width=4).eval()
    fresh.load_state_dict(read_state(out / "last.pt")["generator"])
    assert torch.equal(loaded.module.translate(x, "a2b"), fresh(x))
    with pytest.raises(BadInputError, match="image-to-image translator.*translate-eval"):
        load_generator(out / "final.pt")
    with pytest.raises(BadInputError, match="only translates A -> B"):
        loaded.module.translate(x, "b2a")
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].startswith("step,epoch,loss_d,loss_g,loss_g_gan,loss_l1,l1_a2b,psnr_a2b,ssim_a2b")
    assert result.best_step in (0, 3, 6)


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    full = train_translation(tiny(tmp_path / "full"))

    def stop(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt

    config = tiny(tmp_path / "part")
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train_translation(config, on_step=stop)
    assert read_state(tmp_path / "part" / "last.pt")["step"] == 3
    resumed = train_translation(config, resume=True)
    assert resumed.step == 6
    a, b = state_tensors(full.out / "last.pt"), state_tensors(resumed.out / "last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(BadInputError, match="batch_size"):
        train_translation(tiny(tmp_path / "part", batch_size=2), resume=True)
    with pytest.raises(BadInputError, match="already holds a training run"):
        train_translation(tiny(tmp_path / "full"))


def test_pix2pix_needs_pairs(tmp_path):
    with pytest.raises(BadInputError, match="needs paired data"):
        train_translation(tiny(tmp_path / "x", dataset="synthfaces-glasses"))


def test_cli_trains_and_refuses_options_it_does_not_take(tmp_path):
    from ganeval.cli_train import register

    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:
        pass

    out = tmp_path / "cli"
    args = ["train-reference", "pix2pix", "--dataset", "synthfaces-edges", "--image-size", "16", "--limit", "8",
            "--n-eval", "4", "--steps", "2", "--batch-size", "4", "--width", "4", "--eval-every", "0",
            "--sample-every", "0", "--out", str(out), "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "finished pix2pix at step 2" in result.output and (out / "final.pt").is_file()
    result = CliRunner().invoke(app, ["train-reference", "pix2pix", "--out", str(out), "--resume", "--steps", "3",
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    assert read_state(out / "last.pt")["step"] == 3
    result = CliRunner().invoke(app, ["train-reference", "pix2pix", "--z-dim", "8", "--out", str(tmp_path / "y")])
    assert isinstance(result.exception, BadInputError) and "--z-dim" in str(result.exception)
