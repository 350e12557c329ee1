"""Multi-GPU: relaunch the stage under `accelerate launch`, with DDP, DeepSpeed ZeRO or FSDP.

The Trainer does the distributed work; this module only decides the launch command and the
Trainer's distributed settings from `resources.gpus` and `resources.strategy`. Commands are
argument lists, never shell lines, so no spec value is ever interpreted by a shell.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.compiler.kinds.common import Resources

DISTRIBUTED_ENV = ("LOCAL_RANK", "ACCELERATE_PROCESS_INDEX")


def inside_launch() -> bool:
    return any(key in os.environ for key in DISTRIBUTED_ENV)


def needs_launch(resources: Resources) -> bool:
    return resources.gpus > 1 and not inside_launch()


def launch_command(config_file: Path, root: Path, gpus: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_machines",
        "1",
        "--num_processes",
        str(gpus),
        "-m",
        "llmops.runners.tune.worker",
        str(config_file),
        str(root),
    ]


def deepspeed_config(method: str) -> dict[str, Any]:
    """ZeRO-2 for adapters (their trainable state is small), ZeRO-3 for full fine-tuning, with
    the Trainer filling the "auto" values from its own arguments."""
    stage = 3 if method == "full" else 2
    zero: dict[str, Any] = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True}
    if stage == 3:
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {
        "zero_optimization": zero,
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
    }


def trainer_settings(resources: Resources, method: str, work: Path) -> dict[str, Any]:
    """Extra TrainingArguments for the strategy; nothing on one device."""
    if resources.gpus <= 1:
        return {}
    strategy = resources.strategy
    if strategy == "deepspeed":
        path = work.with_name(f"{work.name}.deepspeed.json")  # beside the work folder, which resets
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(deepspeed_config(method), indent=2, sort_keys=True))
        return {"deepspeed": str(path)}
    if strategy == "fsdp":
        return {
            "fsdp": "full_shard auto_wrap",
            "fsdp_config": {"auto_wrap_policy": "TRANSFORMER_BASED_WRAP", "use_orig_params": True},
        }
    return {"ddp_find_unused_parameters": False}
