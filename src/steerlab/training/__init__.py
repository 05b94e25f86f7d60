"""GAN training, plain or steerable (data augmentation, joint G + w)."""
from .gan import DCGANDiscriminator, GANConfig, train_gan
from .steerable import MODES, DigitDiscriminator, digit_gan, train_steerable

__all__ = ["DCGANDiscriminator", "DigitDiscriminator", "GANConfig", "MODES", "digit_gan", "train_gan",
           "train_steerable"]
