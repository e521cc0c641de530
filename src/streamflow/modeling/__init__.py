"""Model research to production: features by replay, Isolation Forest, packaging, evaluation."""
