"""GAN training, plain or steerable (data augmentation, joint G + w)."""
from .gan import DCGANDiscriminator, GANConfig, train_gan

__all__ = ["DCGANDiscriminator", "GANConfig", "train_gan"]
