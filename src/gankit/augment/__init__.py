"""gankit.augment."""
