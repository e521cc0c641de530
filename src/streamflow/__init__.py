"""StreamFlow: research-to-production real-time payment fraud detection."""

__version__ = "0.1.0"
