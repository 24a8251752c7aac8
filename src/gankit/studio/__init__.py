"""gankit.studio."""
