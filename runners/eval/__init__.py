"""The eval stage: generate with each model of an EvalSuite, then score with `evaluate` metrics."""
