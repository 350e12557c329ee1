"""Field names people bring from other tools, and what llmops calls them.

A user moving a recipe from Transformers' `TrainingArguments`, TRL, PEFT, Axolotl or
LLaMA-Factory writes `learning_rate`, `num_train_epochs` or `lora_r`; spelling alone cannot
lead from those to `lr`, `epochs` or `method.r`, so the "did you mean" hint of an unknown field
(`diagnose.py`) looks here first. Data only, one place: a foreign name maps to the llmops names
it may mean, tried in order. A plain name is a field beside the unknown one; a dotted name is a
path from the spec's top (`method.r`), for a field that lives in another section in llmops.
"""

from __future__ import annotations

FOREIGN_NAMES: dict[str, tuple[str, ...]] = {
    # training: Transformers TrainingArguments / TRL SFTConfig, Axolotl, LLaMA-Factory
    "learning_rate": ("lr", "training.lr"),
    "num_train_epochs": ("epochs", "training.epochs"),
    "num_epochs": ("epochs", "training.epochs"),
    "epoch": ("epochs",),
    "per_device_train_batch_size": ("batch_size", "training.batch_size"),
    "per_device_eval_batch_size": ("batch_size", "training.batch_size"),
    "micro_batch_size": ("batch_size", "training.batch_size"),
    "train_batch_size": ("batch_size", "training.batch_size"),
    "gradient_accumulation_steps": ("grad_accum", "training.grad_accum"),
    "gradient_accumulation": ("grad_accum",),
    "max_seq_length": ("max_length", "training.max_length"),
    "max_seq_len": ("max_length", "training.max_length"),
    "sequence_len": ("max_length", "training.max_length"),
    "cutoff_len": ("max_length", "training.max_length"),
    "model_max_length": ("max_length", "training.max_length"),
    "lr_scheduler_type": ("scheduler", "training.scheduler"),
    "lr_scheduler": ("scheduler", "training.scheduler"),
    "warmup_steps": ("warmup_ratio", "training.warmup_ratio"),
    "num_warmup_steps": ("warmup_ratio", "training.warmup_ratio"),
    "sample_packing": ("packing", "training.packing"),
    "bf16": ("precision", "training.precision"),
    "fp16": ("precision", "training.precision"),
    "tf32": ("precision",),
    "train_on_inputs": ("completion_only_loss", "training.completion_only_loss"),
    "weight_decay": ("training.weight_decay",),
    "max_grad_norm": ("training.max_grad_norm",),
    "gradient_checkpointing": ("training.gradient_checkpointing",),
    "eval_steps": ("training.eval_steps",),
    "save_steps": ("training.save_steps",),
    "logging_steps": ("training.logging_steps",),
    "max_steps": ("training.max_steps",),
    "warmup_ratio": ("training.warmup_ratio",),
    "seed": ("training.seed",),
    # method: PEFT LoraConfig, Axolotl, LLaMA-Factory
    "lora_r": ("r", "method.r"),
    "lora_rank": ("r", "method.r"),
    "rank": ("r", "method.r"),
    "lora_alpha": ("alpha", "method.alpha"),
    "lora_dropout": ("dropout", "method.dropout"),
    "lora_target_modules": ("target_modules", "method.target_modules"),
    "lora_target": ("target_modules", "method.target_modules"),
    "lora_target_linear": ("target_modules", "method.target_modules"),
    "adapter": ("type", "method.type"),
    "finetuning_type": ("type", "method.type"),
    "peft_type": ("type", "method.type"),
    "load_in_4bit": ("method.type",),
    "target_modules": ("method.target_modules",),
    "num_virtual_tokens": ("method.num_virtual_tokens",),
    # the base model
    "model_name_or_path": ("hub", "base_model"),
    "pretrained_model_name_or_path": ("hub", "base_model"),
    "base_model_name_or_path": ("hub", "base_model"),
    "model_name": ("hub", "base_model"),
    "model_id": ("hub", "base_model"),
    "repo_id": ("hub",),
    "model": ("base_model", "hub"),
    "base_model_revision": ("revision", "base_model.revision"),
    "model_revision": ("revision", "base_model.revision"),
    # data and prompts
    "val_set_size": ("validation",),
    "dataset_name": ("dataset",),
    "datasets": ("dataset", "sources"),
    "template": ("prompt",),
    "chat_template": ("chat_format",),
    # retrieval: LangChain, LlamaIndex, Haystack
    "chunk_size": ("size", "chunking.size"),
    "chunk_overlap": ("overlap", "chunking.overlap"),
    "text_splitter": ("chunking",),
    "splitter": ("chunking",),
    "embed_model": ("embedding",),
    "embedding_model": ("embedding",),
    "embeddings": ("embedding",),
    "vector_store": ("engine",),
    "vectorstore": ("engine",),
    "distance_strategy": ("metric", "engine.metric"),
    "similarity_top_k": ("top_k",),
    "k": ("top_k",),
    "score_threshold": ("min_score",),
    "similarity_cutoff": ("min_score",),
    "connection_string": ("dsn_env",),
    "collection_name": ("table",),
}
