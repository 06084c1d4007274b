"""`stylegan`: each component's defining property, the progressive schedule, training and resume, checkpoints
and the w-space truncation that `ganeval sweep` uses.

- AdaIN: every output channel has the style's mean y_b and standard deviation |y_s|, y computed by hand
  from w and the affine layer's weights; the content's spatial pattern survives (correlation 1).
- NoiseInjection adds s_c * noise; noise at the last (32x32) layers changes fine detail only: with the same
  w and two noise draws the 4x4-block means barely move compared with the residual, whereas noise at the
  4x4 layers moves them (the test can tell the two apart).
- Truncation: psi = 0 gives synthesis(w_avg) for every sample; psi = 1 is the identity bit for bit; a
  cutoff leaves the later layers' styles untouched.
- Style mixing: the AdaIN layers before the crossover receive w1, the others w2 (forward hooks).
- Fade-in: alpha = 0 equals the upsampled lower-resolution output (generator and discriminator), alpha = 1
  does not depend on the old ToRGB, alpha = 0.5 is the midpoint.
- The schedule as a function of the global step; one step changes every weight with finite losses;
  a run stopped and resumed (a separate run with the same seed) ends bit-identical to an uninterrupted one.
- Checkpoints round-trip through ganeval.generators (torch.load(weights_only=True)); `ganeval sweep`
  truncates them in w and its psi = 0 images are the image of the tracked mean w.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganeval.config import EvalConfig, SamplingConfig
from ganeval.errors import BadInputError
from ganeval.generators import LatentSpec, generate, load_generator, save_generator, seeded_latents, to_uint8
from ganeval.sweep import sweep, sweep_images, truncation_space
from reference_models import get_trainer
from reference_models.loop import BatchFeeder, TrainingInterrupted, make_config, train
from reference_models.registry import DataInfo, StepContext
from reference_models.state import read_state
from reference_models.stylegan import (
    GROW_FRACTION, R1_EVERY, ProgressiveDiscriminator, StyleGenerator, build_generator, levels_for,
    phase_steps_for, stage_at,
)
from reference_models.stylegan_components import (
    AdaIN, MappingNetwork, NoiseInjection, StyleLayer, init_stylegan_, mix_styles,
)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_generator(image_size: int = 16, channels: int = 1, width: int = 4, z_dim: int = 8,
                    seed: int = 0, **kw) -> StyleGenerator:
    """A randomly initialised generator with non-zero noise scales and a non-zero mean w (eval mode)."""
    g = init_stylegan_(build_generator(z_dim=z_dim, w_dim=z_dim, image_size=image_size, channels=channels,
                                       width=width, **kw), seeded(seed))
    g.redraw_constant_noise(seeded(seed + 1))
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, NoiseInjection):
                m.weight.fill_(0.5)
        g.w_avg.copy_(g.mapping(torch.randn(256, z_dim, generator=seeded(seed + 2))).mean(0))
    return g.eval()


def tiny(out: Path, **kw):
    """Digits at 16x16 (grown 8 -> 16), narrow networks, a few steps, no evaluation."""
    settings = dict(dataset="digits", image_size=16, steps=6, batch_size=8, width=4, z_dim=8, eval_every=0,
                    sample_every=0, checkpoint_every=2, log_every=1, out=str(out))
    settings.update(kw)
    return make_config("stylegan", **settings)


def state_tensors(path: Path) -> dict[str, torch.Tensor]:
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


# -- shapes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size,channels", [(8, 1), (16, 3), (32, 1)])
def test_shapes_at_every_supported_size(size, channels):
    g = small_generator(image_size=size, channels=channels)
    z = torch.randn(3, 8, generator=seeded(0))
    w = g.mapping(z)
    assert w.shape == (3, 8)
    assert g(z).shape == (3, channels, size, size)
    assert g.num_ws == 2 * (levels_for(size) + 1)
    d = ProgressiveDiscriminator(size, channels, 4)
    assert d(torch.zeros(4, channels, size, size)).shape == (4,)
    for level in range(d.start_level, d.final_level + 1):  # every stage still takes and gives full-size images
        assert g.synthesis(w, stage=(level, 1.0)).shape == (3, channels, size, size)
        assert d(torch.zeros(4, channels, size, size), (level, 1.0)).shape == (4,)


def test_unsupported_sizes_are_one_line_errors(tmp_path):
    assert levels_for(8) == 1 and levels_for(32) == 3 and levels_for(64) == 4
    for bad in (4, 12, 28, 30, 2):
        with pytest.raises(BadInputError, match="4 \\* 2\\^k"):
            levels_for(bad)
    with pytest.raises(BadInputError, match="cannot make 28x28"):  # Fashion-MNIST's own size
        train(tiny(tmp_path / "run", image_size=28))


# -- components ----------------------------------------------------------------------------------


def test_adain_output_has_the_styles_mean_and_std():
    adain = init_stylegan_(AdaIN(channels=5, w_dim=7), seeded(1))
    x = torch.randn(3, 5, 6, 6, generator=seeded(2)) * 3 + 2
    w = torch.randn(3, 7, generator=seeded(3))
    with torch.no_grad():
        out = adain(x, w)
    # the style by hand: y = w A^T * scale + b, first half scale, second half bias
    lin = adain.style
    y = w @ (lin.weight * lin.scale).T + lin.bias * lin.lr_mul
    y_s, y_b = y[:, :5], y[:, 5:]
    mean = out.mean(dim=(2, 3))
    std = out.var(dim=(2, 3), unbiased=False).sqrt()
    torch.testing.assert_close(mean, y_b, atol=1e-5, rtol=1e-5)
    var_x = x.var(dim=(2, 3), unbiased=False)
    torch.testing.assert_close(std, y_s.abs() * (var_x / (var_x + adain.eps)).sqrt(), atol=1e-5, rtol=1e-5)
    assert float((std - y_s.abs()).abs().max().detach()) < 1e-3  # |y_s| up to the eps
    # the pattern of each channel is kept: out is an affine function of x per (sample, channel)
    for i in range(3):
        for c in range(5):
            r = np.corrcoef(x[i, c].flatten().numpy(), out[i, c].detach().flatten().numpy())[0, 1]
            assert abs(r) == pytest.approx(1.0, abs=1e-5)


def test_noise_injection_adds_one_map_with_a_learned_scale_per_channel():
    layer = NoiseInjection(4)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.0, 0.5, -1.0, 2.0]).reshape(1, 4, 1, 1))
    x = torch.randn(2, 4, 5, 5, generator=seeded(0))
    noise = torch.randn(2, 1, 5, 5, generator=seeded(1))
    delta = layer(x, noise) - x
    torch.testing.assert_close(delta[:, 0], torch.zeros(2, 5, 5))
    for c, s in ((1, 0.5), (2, -1.0), (3, 2.0)):
        torch.testing.assert_close(delta[:, c], s * noise[:, 0])
    assert NoiseInjection(3).weight.abs().sum() == 0  # starts switched off, as in the paper


def _low_high_energy(a: torch.Tensor, b: torch.Tensor, block: int = 4) -> tuple[float, float]:
    """Energy of the 4x4-block means of a - b (low frequencies) and of what is left (high frequencies)."""
    diff = (a - b).double()
    low = F.avg_pool2d(diff, block)
    residual = diff - F.interpolate(low, scale_factor=block, mode="nearest")
    return float(low.square().mean()), float(residual.square().mean())


def test_noise_at_the_last_layers_changes_only_fine_detail():
    g = small_generator(image_size=32, channels=1, width=8)
    w = g.mapping(torch.randn(16, 8, generator=seeded(5)))
    base = g.constant_noise()

    def with_noise(layers: list[int], seed: int) -> torch.Tensor:
        maps = list(base)
        gen = seeded(seed)
        for i in layers:
            r = g.layer_resolution(i)
            maps[i] = torch.randn(16, 1, r, r, generator=gen)
        with torch.no_grad():
            return g.synthesis(w, noise=maps)

    last = [g.num_ws - 2, g.num_ws - 1]  # the two 32x32 layers
    low, high = _low_high_energy(with_noise(last, 10), with_noise(last, 11))
    assert high > 0 and low < 0.1 * high, (low, high)
    first = [0, 1]  # the two 4x4 layers: their noise moves whole regions
    low_c, high_c = _low_high_energy(with_noise(first, 10), with_noise(first, 11))
    assert low_c > high_c, (low_c, high_c)
    assert low_c / high_c > 10 * low / high
    with torch.no_grad():  # and with the fixed maps sampling is deterministic
        assert torch.equal(g.synthesis(w), g.synthesis(w, noise=base))


def test_mapping_network_normalises_z_and_has_the_configured_depth():
    for depth in (1, 3, 8):
        m = init_stylegan_(MappingNetwork(6, 5, depth), seeded(0))
        assert sum(isinstance(x, torch.nn.Linear) or x.__class__.__name__ == "EqualLinear"
                   for x in m.modules()) == depth
        z = torch.randn(4, 6, generator=seeded(1))
        torch.testing.assert_close(m(z), m(3.7 * z))  # pixel norm: only the direction of z matters
    with pytest.raises(ValueError):
        MappingNetwork(4, 4, 0)


# -- truncation in w -----------------------------------------------------------------------------


def test_truncation_psi_0_is_the_mean_image_and_psi_1_the_identity():
    g = small_generator()
    z = torch.randn(6, 8, generator=seeded(7))
    w = g.mapping(z)
    assert torch.equal(g.truncate_w(w, 1.0), w)
    with torch.no_grad():
        images = g.synthesis(g.truncate_w(w, 0.0))
        mean_image = g.synthesis(g.w_avg[None, :])
        assert torch.equal(g.synthesis(g.truncate_w(w, 1.0)), g.synthesis(w))
    for i in range(6):
        torch.testing.assert_close(images[i], mean_image[0], atol=1e-5, rtol=1e-5)  # batch of 6 vs 1
    half = g.truncate_w(w, 0.5)
    torch.testing.assert_close(half, (g.w_avg + w) / 2)
    assert float(images.std(dim=0).max()) < 1e-5 < float(g.synthesis(w).detach().std(dim=0).max())


def test_truncation_cutoff_leaves_the_later_layers_untruncated():
    g = small_generator()
    w = g.mapping(torch.randn(4, 8, generator=seeded(8)))
    cut = g.truncate_w(w, 0.3, cutoff=2)
    assert cut.shape == (4, g.num_ws, 8)
    for layer in range(g.num_ws):
        want = g.w_avg + 0.3 * (w - g.w_avg) if layer < 2 else w
        torch.testing.assert_close(cut[:, layer], want)
    assert torch.equal(cut[:, 2:], w[:, None, :].expand(-1, g.num_ws - 2, -1))
    # the architecture's own cutoff is what the sweep's truncate_w(w, psi) uses
    g2 = small_generator(truncation_cutoff=2)
    assert torch.equal(g2.truncate_w(w, 0.3), g2.truncate_w(w, 0.3, cutoff=2))


# -- style mixing --------------------------------------------------------------------------------


def test_style_mixing_feeds_w1_before_the_crossover_and_w2_after():
    g = small_generator()
    w1 = g.mapping(torch.randn(3, 8, generator=seeded(1)))
    w2 = g.mapping(torch.randn(3, 8, generator=seeded(2)))
    seen: dict[int, torch.Tensor] = {}
    handles = [layer.adain.register_forward_hook(lambda mod, args, out, i=i: seen.__setitem__(i, args[1]))
               for i, layer in enumerate(g.layers)]
    try:
        for crossover in range(1, g.num_ws):
            seen.clear()
            with torch.no_grad():
                g.synthesis(mix_styles(w1, w2, crossover, g.num_ws))
            assert sorted(seen) == list(range(g.num_ws))
            for i, got in seen.items():
                assert torch.equal(got, w1 if i < crossover else w2), (crossover, i)
    finally:
        for h in handles:
            h.remove()
    assert torch.equal(mix_styles(w1, w2, g.num_ws, g.num_ws), w1[:, None].expand(-1, g.num_ws, -1))


# -- progressive growing -------------------------------------------------------------------------


def test_fade_in_alpha_0_is_the_upsampled_previous_resolution_and_alpha_1_the_new_block():
    g = small_generator(image_size=32, width=4)
    w = g.mapping(torch.randn(4, 8, generator=seeded(3)))
    with torch.no_grad():
        old = g.synthesis(w, stage=(2, 1.0))  # 16x16, nearest-upsampled to 32
        assert torch.equal(old[:, :, ::2, ::2], old[:, :, 1::2, 1::2])  # really a 16x16 image
        at0 = g.synthesis(w, stage=(3, 0.0))
        at1 = g.synthesis(w, stage=(3, 1.0))
        at_half = g.synthesis(w, stage=(3, 0.5))
        torch.testing.assert_close(at0, old, atol=1e-6, rtol=0)
        torch.testing.assert_close(at_half, (at0 + at1) / 2, atol=1e-5, rtol=1e-5)
        assert not torch.allclose(at1, old, atol=1e-3)
        g.to_rgb["2"].conv.weight.mul_(3.0)  # the old ToRGB no longer matters at alpha = 1 ...
        assert torch.equal(g.synthesis(w, stage=(3, 1.0)), at1)
        g.layers[-1].adain.style.weight.mul_(3.0)  # ... and the new block not at alpha = 0
        assert torch.equal(g.synthesis(w, stage=(3, 0.0)), g.synthesis(w, stage=(2, 1.0)))

    d = init_stylegan_(ProgressiveDiscriminator(32, 1, 4), seeded(4))
    x = torch.randn(8, 1, 32, 32, generator=seeded(5))
    with torch.no_grad():
        torch.testing.assert_close(d(x, (3, 0.0)), d(x, (2, 1.0)), atol=1e-5, rtol=1e-5)
        d_half = d(x, (3, 0.5))
        assert not torch.allclose(d(x, (3, 1.0)), d(x, (2, 1.0)), atol=1e-4)
        assert d_half.shape == (8,) and torch.isfinite(d_half).all()


def test_schedule_is_a_function_of_the_global_step():
    # start 8x8 (level 1), final 32x32 (level 3), 10 steps per phase
    expected = {0: (1, 1.0), 9: (1, 1.0), 10: (2, 0.0), 15: (2, 0.5), 19: (2, 0.9), 20: (2, 1.0), 29: (2, 1.0),
                30: (3, 0.0), 37: (3, 0.7), 40: (3, 1.0), 10**6: (3, 1.0)}
    for s, want in expected.items():
        level, alpha = stage_at(s, 10, 1, 3)
        assert level == want[0] and alpha == pytest.approx(want[1]), s
    stages = [stage_at(s, 10, 1, 3) for s in range(60)]
    assert stages == sorted(stages)  # never shrinks
    assert stage_at(5, 0, 1, 3) == (3, 1.0) and stage_at(5, 7, 3, 3) == (3, 1.0)
    steps = 1000
    p = phase_steps_for(steps, 1, 3)
    end_of_growth = next(s for s in range(steps) if stage_at(s, p, 1, 3) == (3, 1.0))
    assert end_of_growth == 4 * p and abs(end_of_growth - GROW_FRACTION * steps) <= 4


# -- training ------------------------------------------------------------------------------------


def test_one_step_changes_every_weight_and_losses_are_finite():
    config = tiny(Path("unused"), steps=16)
    spec = get_trainer("stylegan")
    info = DataInfo(image_shape=(1, 16, 16))
    models = spec.build(config, info, seeded(0))
    g, d = models.generator.train(), models.discriminator.train()
    assert int(g.phase_steps) == phase_steps_for(16, 1, 2) == 4
    g.train_step.fill_(6)  # fading in 16x16 (alpha 0.5): every layer and both ToRGBs are in use
    from ganeval.datasets import load_dataset

    ds = load_dataset("digits", image_size=16, limit=64)
    ctx = StepContext(generator=g, discriminator=d,
                      opt_g=torch.optim.Adam(g.parameters(), lr=config.lr_g, betas=config.betas),
                      opt_d=torch.optim.Adam(d.parameters(), lr=config.lr_d, betas=config.betas),
                      next_batch=BatchFeeder(ds.images, None, 8, seeded(1), torch.device("cpu")),
                      noise=seeded(2), config=config, z_dim=8)
    before = {f"{net}.{k}": v.detach().clone() for net, m in (("G", g), ("D", d)) for k, v in m.named_parameters()}
    w_avg = g.w_avg.clone()
    losses = spec.step(ctx)
    assert set(losses) == set(spec.loss_names)
    assert all(np.isfinite(v) for v in losses.values()), losses
    after = {f"{net}.{k}": v for net, m in (("G", g), ("D", d)) for k, v in m.named_parameters()}
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert not unchanged
    assert int(g.train_step) == 7 and not torch.equal(g.w_avg, w_avg)
    assert losses["resolution"] == pytest.approx(12.0)  # halfway between 8 and 16
    g.train_step.fill_(2 * R1_EVERY)  # an R1 step: the penalty is computed and reported
    assert spec.step(ctx)["r1"] > 0


def test_resume_equals_uninterrupted_and_keeps_the_schedule(tmp_path):
    full = train(tiny(tmp_path / "full"))
    config = tiny(tmp_path / "cut")

    def stop_at_3(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train(config, on_step=stop_at_3)
    assert read_state(tmp_path / "cut" / "last.pt")["step"] == 3
    resumed = train(config, resume=True)
    assert resumed.step == 6
    assert_same(state_tensors(full.out / "last.pt"), state_tensors(resumed.out / "last.pt"))
    # the run crossed phases (phase_steps 1: 8x8, fade, 16x16, ...) and the final generators agree bit for bit
    a, b = load_generator(full.final), load_generator(resumed.final)
    assert int(a.module.phase_steps) == 1 and a.module.stage() == (2, 1.0)
    assert_same(dict(a.module.state_dict()), dict(b.module.state_dict()))
    # a resumed run with more steps keeps the schedule it started with
    longer = train(tiny(tmp_path / "cut", steps=8), resume=True)
    assert int(load_generator(longer.final).module.phase_steps) == 1


# -- checkpoints, sampling, sweep ----------------------------------------------------------------


def test_checkpoint_round_trip_and_deterministic_sampling(tmp_path):
    g = small_generator(image_size=16, channels=3)
    g.train_step.fill_(123)
    arch = {"z_dim": 8, "w_dim": 8, "image_size": 16, "channels": 3, "width": 4}
    latent = LatentSpec(z_dim=8, image_shape=(3, 16, 16))
    path = save_generator(tmp_path / "g.pt", g, "stylegan", arch, latent, {"test": True})
    raw = torch.load(path, weights_only=True)
    assert raw["architecture"] == "stylegan" and "w_avg" in raw["state_dict"]
    loaded = load_generator(path)
    assert isinstance(loaded.module, StyleGenerator)
    assert torch.equal(loaded.module.w_avg, g.w_avg) and int(loaded.module.train_step) == 123
    z = seeded_latents(latent, 10, seed=3)
    with torch.no_grad():
        assert torch.equal(loaded.module(z), g(z))
        one = loaded.module(z[4:5])
    torch.testing.assert_close(one[0], g(z)[4].detach(), atol=1e-5, rtol=0)  # a sample does not depend on its batch
    a = torch.cat([b for b, _ in generate(loaded, 10, seed=3, batch_size=3)])
    b = torch.cat([b for b, _ in generate(loaded, 10, seed=3, batch_size=10)])
    assert torch.equal(a, b)


def test_sweep_truncates_a_trained_stylegan_in_w(tmp_path):
    result = train(tiny(tmp_path / "run", steps=4, ema=None))
    gen = load_generator(result.final)
    assert truncation_space(gen) == "w"
    config = EvalConfig(metrics=("fid",), extractor="test-tiny", sampling=SamplingConfig(n=24, seed=5))
    run = sweep(result.final, result.final, [0.0, 0.5, 1.0], config)  # the generator itself as the "real" set
    assert run.provenance["truncation"]["space"] == "w"
    fids = {r.details["psi"]: r.value for r in run.results}
    assert fids[1.0] == pytest.approx(0.0, abs=1e-6)  # untruncated: the very same samples as the real set
    assert fids[0.0] > fids[0.5] > 0
    images = sweep_images(result.final, [0.0, 1.0], config, n=6)
    m = gen.module
    with torch.no_grad():
        mean = to_uint8(m.synthesis(m.w_avg[None, :]), gen.latent.output_range)
        plain = to_uint8(m(seeded_latents(gen.latent, 6, seed=5)), gen.latent.output_range)
    assert all(np.array_equal(im, mean[0].numpy()) for im in images["psi=0"])
    assert np.array_equal(images["psi=1"], plain.numpy())


def test_cli_trains_a_tiny_stylegan(tmp_path):
    import typer
    from typer.testing import CliRunner

    from ganeval.cli_train import register

    app = typer.Typer()
    register(app)
    app.command()(lambda: None)  # a second command keeps "train-reference" a subcommand name
    out = tmp_path / "cli"
    res = CliRunner().invoke(app, ["train-reference", "stylegan", "--dataset", "digits", "--image-size", "8",
                                   "--steps", "2", "--batch-size", "8", "--width", "4", "--z-dim", "4",
                                   "--eval-every", "0", "--sample-every", "0", "--threads", "1", "--quiet",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["generator"]["architecture"] == "stylegan" and manifest["status"] == "finished"
    bad = CliRunner().invoke(app, ["train-reference", "stylegan", "--dataset", "digits", "--image-size", "12",
                                   "--steps", "1", "--quiet", "--out", str(tmp_path / "bad")])
    assert isinstance(bad.exception, BadInputError) and "4 * 2^k" in str(bad.exception)
    assert bad.exception.exit_code == 2 and not (tmp_path / "bad" / "last.pt").exists()


@pytest.mark.slow
def test_training_lowers_the_fid(tmp_path):
    """A short real run on digits (16x16, grown 8 -> 16, 400 steps): the in-training FID (fmnist-cnn) must fall well
    below the untrained generator's. (Whether truncation then raises precision depends on the run at this budget:
    with lr 2e-3 it did, with 1e-3 the image of w_avg was not yet a digit, so that is not asserted.)"""
    result = train(tiny(tmp_path / "run", steps=400, batch_size=16, width=8, z_dim=16, eval_every=400, n_eval=300,
                        checkpoint_every=0))
    fids = {row["step"]: row["fid"] for row in result.history if row.get("fid") is not None}
    assert fids[400] < 0.6 * fids[0], fids
