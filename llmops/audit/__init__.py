"""The approval record, rebuilt from git alone: who changed which model or deployment, through
which pull request, approved by whom, with which gate results and metrics, and which version is
in which environment (GTO-style git tags); and enforcement, which judges one commit the same way.
Specs are read through the compiler (pure), gates through `llmops.gates`; nothing here imports
DVC, torch or a runner."""
