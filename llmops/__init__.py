"""llmops: a git repository as the control plane for the whole life of a large language model."""

__version__ = "0.1.0"
