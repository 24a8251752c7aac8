"""gankit.losses."""
