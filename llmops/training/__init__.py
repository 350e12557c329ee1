"""Training a causal LM with the Transformers Trainer: examples as (prompt, completion) pairs
(`examples`), their tokens and loss masks (`tokenize`) and the training loop with its
checkpoints, live metrics and cost (`trainer`); preference tuning with TRL on the same loop
machinery: rows with chosen/rejected or labelled answers (`preference_data`) and TRL's trainer
for the objective (`preference`).

Shared by the base stage (pretraining a model built from a config) and the tune stage
(fine-tuning), and by eval for teacher-forced likelihoods, so it belongs to neither runner.
`trainer` and `preference` import transformers when imported (TRL only when training); the
others do not.
"""
