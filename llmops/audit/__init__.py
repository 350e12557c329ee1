"""The approval record, rebuilt from git alone: who changed which model or deployment, through
which pull request, approved by whom, with which gate results and metrics, and which version is
in which environment (GTO-style git tags). Nothing here imports the compiler, DVC or torch."""
