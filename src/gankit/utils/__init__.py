"""gankit.utils."""
