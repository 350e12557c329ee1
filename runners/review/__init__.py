"""The review stage: bias probes, security probes, provenance and a model card per tuned model."""
