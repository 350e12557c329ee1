"""llmops: a git repository as the control plane for the whole life of a large language model."""

__version__ = "0.1.0"
# The name on the package index: `llmops` there is someone else's (an empty 0.1.0), so this
# project installs as `llmops-gitops`; the command and the import name stay `llmops`.
DISTRIBUTION = "llmops-gitops"
