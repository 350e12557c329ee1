"""The tune stage: fine-tune a model with Transformers + PEFT (LoRA, QLoRA, prompt tuning, full)."""
