"""The deploy stage: serve a Deployment's model on vLLM or `transformers serve`, smoke-test it,
and switch the live record to it (blue/green on one machine)."""
