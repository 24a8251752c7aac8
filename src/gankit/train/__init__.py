"""gankit.train."""
