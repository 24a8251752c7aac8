"""gankit.export."""
