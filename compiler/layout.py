"""Where the compiler's per-stage files live; imported by the compiler, `llmops run`, the
audit and the generated-file writer, so each path is spelled once. No imports: cheap anywhere."""

STAGE_CONFIG_DIR = ".llmops/stages"  # <stage>.json: the typed config, tracked by DVC as params
STAGE_SOURCES_DIR = ".llmops/sources"  # <stage>.json: the spec files it came from and their digest
