"""The labelled synthetic transaction generator (legit, fraud patterns and malformed lines)."""

from streamflow.generator.config import FRAUD_PATTERNS, MALFORMED_KINDS, GeneratorConfig
from streamflow.generator.generate import GeneratedStream, generate_stream

__all__ = ["FRAUD_PATTERNS", "MALFORMED_KINDS", "GeneratedStream", "GeneratorConfig", "generate_stream"]
