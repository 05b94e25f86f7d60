"""GAN training, plain or steerable (data augmentation, joint G + w, mode seeking), with one GAN step."""
from steerlab.training.gan import DCGANDiscriminator, GANConfig, gan_step, mode_seeking_term, train_gan
from steerlab.training.steerable import MODES, DigitDiscriminator, digit_gan, train_steerable

__all__ = ["DCGANDiscriminator", "DigitDiscriminator", "GANConfig", "MODES", "digit_gan", "gan_step",
           "mode_seeking_term", "train_gan", "train_steerable"]
