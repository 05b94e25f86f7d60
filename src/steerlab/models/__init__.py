"""Generator adapters behind one protocol, and the zoo of named models."""
from .base import Generator
from .dcgan import DCGANGenerator
from .vae import BetaVAE
from .wrap import ModuleGenerator, wrap_generator
from .zoo import (ARCHITECTURES, ZOO, ZooEntry, list_models, load_generator, load_model,
                  register_architecture, register_model, save_generator)
from .stylegan2 import StyleGAN2Generator, load_rosinality
from .biggan import BigGANGenerator, load_biggan

register_architecture("stylegan2", StyleGAN2Generator)
register_architecture("biggan", BigGANGenerator)

__all__ = ["Generator", "DCGANGenerator", "BetaVAE", "ModuleGenerator", "wrap_generator", "ARCHITECTURES", "ZOO",
           "ZooEntry", "list_models", "load_generator", "load_model", "register_architecture",
           "register_model", "save_generator", "StyleGAN2Generator", "load_rosinality",
           "BigGANGenerator", "load_biggan"]
