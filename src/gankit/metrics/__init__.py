"""gankit.metrics."""
