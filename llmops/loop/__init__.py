"""Closing the loop from the scheduled monitor job (`llmops loop`).

The monitor job only ever *proposes*: `open-pr` exports the new feedback, commits it with the
spec edits on a fresh branch and opens a pull request, so training on what users said goes
through review, CI and approval like any other change. `alert` turns a failed monitoring run
into GitHub annotations and, when a webhook secret is configured, one JSON POST.
"""
