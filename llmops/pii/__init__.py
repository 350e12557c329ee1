"""Personal data and secrets in free text: `detect` finds and redacts them, `patterns` holds the
detectors. Its own package at the root because the data stage, the gateway, the feedback export
and the model review all use it, and none of them may import another.
"""
