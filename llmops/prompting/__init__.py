"""The prompt template engine: sandboxed Jinja2 templates, chat formats, golden tests.

`render.PromptTemplate` turns a Prompt spec and a row of data into the text a model sees. The
prompt, tune and eval stages, the monitor, the feedback export and `llmops validate` all use it,
so it lives outside every runner. Importing it pulls in Jinja2 and pydantic only: `llmops
validate` uses it and must stay fast. `untemplate` goes the other way: from a logged request
back to the variables a user filled in.
"""
