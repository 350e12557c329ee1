"""Hugging Face models: finding and loading them (`loading`), the precision and hardware a run
uses (`hardware`) and batched Transformers generation (`generate`).

The tune, base, eval, review, deploy and monitor stages all load models the same way, so this
lives outside every runner. torch, transformers and peft are imported inside functions only:
`llmops --help`, `validate` and `compile` never pay for them.
"""
