"""gankit.sampling."""
