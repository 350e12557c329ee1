"""The serving gateway: a thin OpenAI-compatible proxy in front of an inference engine that logs
every request (PII-redacted) to a SQL store, takes human feedback and exposes Prometheus metrics.

Only `store` is meant to be imported by other packages (the monitor and `llmops feedback` read the
same tables); the app itself is built by `llmops.gateway.app.build_app`.
"""
