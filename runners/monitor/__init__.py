"""The monitor stage: service, feedback and drift figures of a deployment, checked against Policies."""
