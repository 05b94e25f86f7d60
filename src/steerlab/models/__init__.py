"""Generator adapters behind one protocol, and the zoo of named models."""
from steerlab.models.base import Generator
from steerlab.models.biggan import BigGANGenerator, load_biggan
from steerlab.models.dcgan import DCGANGenerator
from steerlab.models.stylegan2 import StyleGAN2Generator, load_rosinality
from steerlab.models.stylegan3 import StyleGAN3Generator, stylegan3_from_state
from steerlab.models.vae import BetaVAE
from steerlab.models.wrap import NETWORKS, ModuleGenerator, register_network, wrap_generator
from steerlab.models.zoo import (
    ARCHITECTURES,
    ZOO,
    ZooEntry,
    list_models,
    load_generator,
    load_model,
    register_architecture,
    register_model,
    save_generator,
)

register_architecture("stylegan2", StyleGAN2Generator)
register_architecture("biggan", BigGANGenerator)
register_architecture("stylegan3", StyleGAN3Generator)

__all__ = ["Generator", "DCGANGenerator", "BetaVAE", "ModuleGenerator", "wrap_generator", "NETWORKS",
           "register_network", "ARCHITECTURES", "ZOO", "ZooEntry", "list_models", "load_generator", "load_model",
           "register_architecture", "register_model", "save_generator", "StyleGAN2Generator", "load_rosinality",
           "BigGANGenerator", "load_biggan", "StyleGAN3Generator", "stylegan3_from_state"]
