"""GAN variants, one file each, registered by name in :data:`gankit.registry.MODELS`."""
