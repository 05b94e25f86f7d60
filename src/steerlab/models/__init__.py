"""Generator adapters behind one protocol, and the zoo of named models."""
from steerlab.models.base import Generator
from steerlab.models.biggan import BigGANGenerator, load_biggan
from steerlab.models.dcgan import DCGANGenerator
from steerlab.models.hierarchical import HierarchicalGenerator
from steerlab.models.nvlabs_pickle import (
    NVLABS_GENERATORS,
    load_nvlabs_pickle,
    read_network_pickle,
    register_nvlabs_generator,
)
from steerlab.models.stylegan2 import StyleGAN2Generator, load_rosinality
from steerlab.models.stylegan2ada import StyleGAN2ADAGenerator, from_nvlabs_record
from steerlab.models.stylegan3 import StyleGAN3Generator, stylegan3_from_state
from steerlab.models.stylegan3 import from_record as stylegan3_from_record
from steerlab.models.vae import BetaVAE
from steerlab.models.wrap import NETWORKS, ModuleGenerator, register_network, wrap_generator
from steerlab.models.zoo import (
    ARCHITECTURES,
    ZOO,
    ZooEntry,
    checkpoint_format,
    list_models,
    load_foreign,
    load_generator,
    load_model,
    register_architecture,
    register_model,
    save_generator,
)

register_architecture("stylegan2", StyleGAN2Generator)
register_architecture("biggan", BigGANGenerator)
register_architecture("stylegan2-ada", StyleGAN2ADAGenerator)
register_architecture("stylegan3", StyleGAN3Generator)
register_architecture("hierarchical", HierarchicalGenerator)  # BigGAN-like hierarchical z (Plumerault Fig. 4)
# NVlabs pickles: the generator's upstream class name -> the builder (stylegan3's copy of the
# StyleGAN2 networks is the same network)
register_nvlabs_generator("training.networks.Generator", from_nvlabs_record)
register_nvlabs_generator("training.networks_stylegan2.Generator", from_nvlabs_record)
register_nvlabs_generator("training.networks_stylegan3.Generator", stylegan3_from_record)

__all__ = ["Generator", "DCGANGenerator", "BetaVAE", "ModuleGenerator", "wrap_generator", "NETWORKS",
           "register_network", "ARCHITECTURES", "ZOO", "ZooEntry", "list_models", "load_generator", "load_model",
           "register_architecture", "register_model", "save_generator", "StyleGAN2Generator", "load_rosinality",
           "BigGANGenerator", "load_biggan", "StyleGAN2ADAGenerator", "NVLABS_GENERATORS", "load_nvlabs_pickle",
           "read_network_pickle", "register_nvlabs_generator", "checkpoint_format", "load_foreign",
           "StyleGAN3Generator", "stylegan3_from_state", "HierarchicalGenerator"]
