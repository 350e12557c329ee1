"""Where the compiler's per-stage files live; imported by the compiler, `llmops run`, the
audit and the generated-file writer, so each path is spelled once. No imports: cheap anywhere."""

STAGE_CONFIG_DIR = ".llmops/stages"  # <stage>.json: the typed config, tracked by DVC as params
STAGE_SOURCES_DIR = ".llmops/sources"  # <stage>.json: the spec files it came from and their digest

# The pull-request workflow's job that gathers what every stage job computed (from the DVC
# remote), checks the pull request carries exactly that, and hands any difference to the
# commit job. Its `name:` is the check run GitHub records on the head SHA, which `llmops
# enforce` looks for as proof that CI produced the results that merged.
RESULTS_JOB = "results"
RESULTS_CHECK = "llmops results"
# The bot identity the results commit is made as (the GitHub Actions bot's noreply address).
RESULTS_AUTHOR = "github-actions[bot]"
RESULTS_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
