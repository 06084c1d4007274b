"""Reference trainers: networks the project trains itself.

* the fmnist-cnn feature network (`python -m reference_models.fmnist_classifier`);
* the reference GANs `gan`, `dcgan`, `wgan-gp`, `cgan` (`ganeval train-reference NAME`), one module
  each, sharing one training loop (reference_models.loop) and a trainer registry
  (reference_models.registry);
* the attribute classifier of the bias audit (`ganeval train-reference attr-classifier --data DIR`), a
  non-GAN trainer with its own loop (reference_models.attr_classifier).

Importing this package registers the GANs' generator architectures with ganeval.generators (so their
checkpoints load) and their trainers with the registry. Every trainer is seeded from an explicit seed,
CPU-friendly, and writes files that torch.load(weights_only=True) reads.
"""

from reference_models import attr_classifier, cgan, dcgan, gan, stylegan, wgan_gp  # noqa: F401  (registration on import)
from reference_models import cyclegan, pix2pix  # noqa: F401  (translation trainers, reference_models.translation)
from reference_models.registry import (
    OtherTrainerSpec, TrainerSpec, available_other_trainers, available_trainers, get_trainer, register_other_trainer,
    register_trainer,
)

__all__ = ["OtherTrainerSpec", "TrainerSpec", "available_other_trainers", "available_trainers", "get_trainer",
           "register_other_trainer", "register_trainer"]
