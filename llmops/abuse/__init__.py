"""Abuse detection shared by the gateway (flags, blocking, rate limits) and the monitor stage
(rates, per-key anomalies): prompt-injection and jailbreak patterns derived from the review
stage's probe sets, an optional Hugging Face text classifier, a per-key token bucket and a
robust-z request-rate anomaly test. Standard library only, but for the optional classifier."""
