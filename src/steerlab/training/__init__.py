"""GAN training, plain or steerable (data augmentation, joint G + w)."""
from steerlab.training.gan import DCGANDiscriminator, GANConfig, train_gan
from steerlab.training.steerable import MODES, DigitDiscriminator, digit_gan, train_steerable

__all__ = ["DCGANDiscriminator", "DigitDiscriminator", "GANConfig", "MODES", "digit_gan", "train_gan",
           "train_steerable"]
