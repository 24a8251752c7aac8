"""gankit.commands."""
