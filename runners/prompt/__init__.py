"""The prompt runner: sandboxed templates, chat formats, golden tests and the prompt stage.

`render.PromptTemplate` is what other runners (tune, eval) import to turn a Prompt spec and a
row of data into the text a model sees. Importing this package pulls in Jinja2 and pydantic
only: `llmops validate` uses it and must stay fast.
"""
