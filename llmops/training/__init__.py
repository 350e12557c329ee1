"""Training a causal LM with the Transformers Trainer: examples as (prompt, completion) pairs
(`examples`), their tokens and loss masks (`tokenize`) and the training loop with its
checkpoints, live metrics and cost (`trainer`).

Shared by the base stage (pretraining a model built from a config) and the tune stage
(fine-tuning), and by eval for teacher-forced likelihoods, so it belongs to neither runner.
`trainer` imports transformers when imported; the others do not.
"""
