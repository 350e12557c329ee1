"""The base stage: a small model built from a config, with a tokenizer trained on a Dataset."""
