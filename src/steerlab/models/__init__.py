"""Generator adapters behind one protocol, and the zoo of named models."""
from .base import Generator
from .dcgan import DCGANGenerator
from .wrap import ModuleGenerator, wrap_generator
from .zoo import (ARCHITECTURES, ZOO, ZooEntry, list_models, load_generator, load_model,
                  register_architecture, register_model, save_generator)

__all__ = ["Generator", "DCGANGenerator", "ModuleGenerator", "wrap_generator", "ARCHITECTURES", "ZOO",
           "ZooEntry", "list_models", "load_generator", "load_model", "register_architecture",
           "register_model", "save_generator"]
