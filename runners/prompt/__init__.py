"""The prompt stage: render a Prompt over its Dataset's splits (`run.py`).

The template engine it renders with (sandbox, chat formats, golden tests) is `llmops.prompting`,
shared with the tune and eval runners, the monitor and `llmops validate`.
"""
