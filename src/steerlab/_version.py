"""The package version (one place; written into every file and metrics.json steerlab makes)."""
__version__ = "0.1.0"
