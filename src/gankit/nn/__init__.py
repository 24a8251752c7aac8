"""gankit.nn."""
