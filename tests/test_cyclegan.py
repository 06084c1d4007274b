"""cyclegan (reference_models.cyclegan, .translation): ResNet generators, the image pool's defining behaviour
(seeded; stores until full, then returns a stored image with probability 1/2), the loss composition of one
step, checkpoint round trip with both directions, resume equivalence including the pools."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ganeval.errors import BadInputError
from ganeval.translate_eval import load_translator
from reference_models import cyclegan
from reference_models.loop import TrainingInterrupted
from reference_models.state import read_state
from reference_models.translation import (
    ImagePool, ResnetGenerator, TranslationStep, make_translation_config, train_translation,
)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


def tiny(out: Path, **kw):
    settings = dict(dataset="synthfaces-glasses", image_size=16, n_train=12, n_eval=4, steps=6, batch_size=2, width=4,
                    n_blocks=1, pool_size=3, eval_every=3, sample_every=3, checkpoint_every=2, log_every=1,
                    out=str(out))
    settings.update(kw)
    return make_translation_config("cyclegan", **settings)


# -- image pool --------------------------------------------------------------------------------------


def distinct(n: int, start: int = 0) -> torch.Tensor:
    """n images (1, 2, 2) whose every pixel is their index: easy to tell apart."""
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()


def ids(batch: torch.Tensor) -> list[int]:
    return [int(v) for v in batch[:, 0, 0, 0]]


def test_pool_stores_and_returns_new_images_until_full():
    pool = ImagePool(5)
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    assert ids(pool.query(distinct(3), g)) == [0, 1, 2]
    assert ids(pool.query(distinct(2, 3), g)) == [3, 4]
    assert torch.equal(g.get_state(), state)  # nothing random happens before the pool is full
    assert sorted(ids(torch.stack(pool.images))) == [0, 1, 2, 3, 4]


def test_full_pool_returns_a_stored_image_half_of_the_time_and_keeps_the_new_one():
    size, n = 50, 1500
    pool = ImagePool(size)
    g = torch.Generator().manual_seed(1)
    pool.query(distinct(size), g)
    from_pool = 0
    for k in range(n):
        new_id = size + k
        stored_before = set(ids(torch.stack(pool.images)))
        (got,) = ids(pool.query(distinct(1, new_id), g))
        stored_after = ids(torch.stack(pool.images))
        if got == new_id:
            assert sorted(stored_after) == sorted(stored_before)  # returned as is, pool unchanged
        else:
            from_pool += 1
            assert got in stored_before and new_id in stored_after and got not in stored_after
            assert len(stored_after) == size
    # Binomial(1500, 1/2): sd = sqrt(n)/2 ~ 19.4; 5 sd either side
    assert abs(from_pool - n / 2) < 5 * math.sqrt(n) / 2


def test_pool_is_a_function_of_its_seed_and_survives_a_state_round_trip():
    def run(seed: int, restore_at: int | None = None) -> list[int]:
        pool, g = ImagePool(4), torch.Generator().manual_seed(seed)
        out = []
        for k in range(10):
            if k == restore_at:
                saved, gstate = pool.state_dict(), g.get_state()
                pool, g = ImagePool(0), torch.Generator()
                pool.load_state_dict(saved)
                g.set_state(gstate)
            out += ids(pool.query(distinct(3, 3 * k), g))
        return out

    assert run(3) == run(3) == run(3, restore_at=5)
    assert run(3) != run(4)
    assert ids(ImagePool(0).query(distinct(3), torch.Generator())) == [0, 1, 2]


# -- networks and one step ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [16, 32])
def test_resnet_generator_keeps_the_image_size(size):
    g = ResnetGenerator(3, 3, width=4, n_blocks=2).eval()
    y = g(torch.rand(2, 3, size, size) * 2 - 1)
    assert y.shape == (2, 3, size, size) and float(y.detach().abs().max()) <= 1.0


def test_one_step_updates_both_directions_with_the_papers_loss_weights():
    from ganeval.datasets.pairs import load_pairs

    config = make_translation_config("cyclegan", width=4, n_blocks=1, out="unused")
    data = load_pairs("synthfaces-glasses", n=4, image_size=16)
    assert not data.paired
    models = cyclegan.build(config, data, torch.Generator().manual_seed(0))
    g, d = models.generator.train(), models.discriminator.train()
    before = {n: p.detach().clone() for n, p in [*g.named_parameters(), *d.named_parameters()]}
    pools = {"a": ImagePool(50), "b": ImagePool(50)}
    ctx = TranslationStep(g, d, torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999)),
                          torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999)),
                          lambda: (data.a.float() / 127.5 - 1, data.b.float() / 127.5 - 1),
                          torch.Generator().manual_seed(1), config, pools)
    losses = cyclegan.step(ctx)
    assert all(math.isfinite(v) for v in losses.values())
    assert losses["loss_g"] == pytest.approx(losses["loss_g_gan"] + 10 * losses["loss_cycle"]
                                             + 0.5 * 10 * losses["loss_identity"], rel=1e-5)
    after = dict([*g.named_parameters(), *d.named_parameters()])
    assert not [n for n in before if torch.equal(before[n], after[n])]
    assert len(pools["a"].images) == len(pools["b"].images) == 4
    with pytest.raises(BadInputError, match="unknown direction"):
        g.translate(data.a.float(), "c2d")


def test_cyclegan_refuses_sizes_not_divisible_by_four():
    from ganeval.datasets.pairs import load_pairs

    config = make_translation_config("cyclegan", width=4, out="unused")
    with pytest.raises(BadInputError, match="divisible by 4"):
        cyclegan.build(config, load_pairs("synthfaces-glasses", n=2, image_size=18), torch.Generator())


# -- runs ------------------------------------------------------------------------------------------------


def test_checkpoint_has_both_directions_and_reloads_exactly(tmp_path):
    result = train_translation(tiny(tmp_path / "run"))
    loaded = load_translator(result.final)
    assert loaded.spec.directions == ("a2b", "b2a") and loaded.spec.kind == "cyclegan"
    assert loaded.spec.domains == ("no-glasses", "glasses")
    fresh = cyclegan.build_generator(**loaded.config).eval()
    fresh.load_state_dict(read_state(result.out / "last.pt")["generator"])
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    for direction in ("a2b", "b2a"):
        assert torch.equal(loaded.module.translate(x, direction), fresh.translate(x, direction))
    header = (result.out / "history.csv").read_text().splitlines()[0]
    assert "cycle_a" in header and "l1_b2a" in header  # the glasses test split is paired
    assert result.best is not None


def test_interrupted_and_resumed_equals_uninterrupted_pools_included(tmp_path):
    full = train_translation(tiny(tmp_path / "full"))

    def stop(step: int) -> None:
        if step == 4:
            raise KeyboardInterrupt

    config = tiny(tmp_path / "part")
    with pytest.raises(TrainingInterrupted):
        train_translation(config, on_step=stop)
    saved = read_state(tmp_path / "part" / "last.pt")
    assert saved["step"] == 4 and saved["pools"]["a"]["images"].shape[0] == 3  # the pool is full (8 > 3 images)
    resumed = train_translation(config, resume=True)
    a, b = read_state(full.out / "last.pt"), read_state(resumed.out / "last.pt")
    for key in ("generator", "discriminator"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    for name in ("a", "b"):
        assert torch.equal(a["pools"][name]["images"], b["pools"][name]["images"])
    assert torch.equal(a["rng"]["noise"], b["rng"]["noise"])
