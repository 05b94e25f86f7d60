"""steerlab: find, apply and measure steering directions in generative image models."""

__version__ = "0.1.0"
