"""The serving gateway: a thin OpenAI-compatible proxy in front of an inference engine that logs
every request (PII-redacted) to a SQL store, takes human feedback and exposes Prometheus metrics.

The store's tables and migrations are `llmops.feedback_db.store`, which the monitor stage and
`llmops feedback` read without importing the gateway; the app itself is built by
`llmops.gateway.app.build_app`.
"""
