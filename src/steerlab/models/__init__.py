"""Generator adapters behind one protocol, and the zoo of named models."""
from steerlab.models.base import Generator
from steerlab.models.dcgan import DCGANGenerator
from steerlab.models.vae import BetaVAE
from steerlab.models.wrap import ModuleGenerator, wrap_generator
from steerlab.models.zoo import (ARCHITECTURES, ZOO, ZooEntry, list_models, load_generator, load_model,
                  register_architecture, register_model, save_generator)
from steerlab.models.stylegan2 import StyleGAN2Generator, load_rosinality
from steerlab.models.biggan import BigGANGenerator, load_biggan

register_architecture("stylegan2", StyleGAN2Generator)
register_architecture("biggan", BigGANGenerator)

__all__ = ["Generator", "DCGANGenerator", "BetaVAE", "ModuleGenerator", "wrap_generator", "ARCHITECTURES", "ZOO",
           "ZooEntry", "list_models", "load_generator", "load_model", "register_architecture",
           "register_model", "save_generator", "StyleGAN2Generator", "load_rosinality",
           "BigGANGenerator", "load_biggan"]
