"""Human feedback back into training data: `llmops feedback export` and its helpers."""
