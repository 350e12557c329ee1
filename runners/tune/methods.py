"""The four tuning methods, each a PEFT configuration (or none, for full fine-tuning)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.compiler.kinds.finetune import Method


def quantization_config(method: Method, compute_dtype: Any) -> Any:
    """QLoRA's 4-bit NF4 weights with double quantization, as in the QLoRA paper."""
    if method.type != "qlora":
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def peft_config(method: Method, tokenizer_path: str) -> Any:
    kind = method.type
    if kind == "full":
        return None
    from peft import LoraConfig, PromptTuningConfig, PromptTuningInit, TaskType

    if kind in ("lora", "qlora"):
        return LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=method.r,
            lora_alpha=method.alpha,
            lora_dropout=method.dropout,
            target_modules=method.target_modules,
            bias="none",
        )
    init_text = method.prompt_tuning_init_text
    return PromptTuningConfig(
        task_type=TaskType.CAUSAL_LM,
        num_virtual_tokens=method.num_virtual_tokens,
        prompt_tuning_init=PromptTuningInit.TEXT if init_text else PromptTuningInit.RANDOM,
        prompt_tuning_init_text=init_text,
        tokenizer_name_or_path=tokenizer_path if init_text else None,
    )


def prepare(model: Any, method: Method, tokenizer_path: str, gradient_checkpointing: bool) -> Any:
    """The model to hand to the Trainer: wrapped by PEFT, or itself for full fine-tuning."""
    if method.type == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    config = peft_config(method, tokenizer_path)
    if config is None:
        return model
    from peft import get_peft_model

    if gradient_checkpointing:
        model.enable_input_require_grads()
    return get_peft_model(model, config)


def trainable_parameters(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
