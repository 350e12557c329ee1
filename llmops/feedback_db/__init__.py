"""The feedback database the gateway writes and the monitor and `llmops feedback` read (`store`).

Its own package so that none of its users imports another: runners never import the gateway,
and the CLI and the feedback export never import a runner.
"""
