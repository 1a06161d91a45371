"""What training and pre-training share: the optimiser, the learning-rate schedule, mixed precision."""

import math

import torch


def make_optimizer(params, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over `params` (parameters, or parameter groups with their own "lr")."""
    # The fused kernel updates all parameters in one pass: on a 2-core CPU it is ~6x faster than the
    # default for-each AdamW, which matters because the embedding table is most of the parameters.
    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):  # older torch builds have no fused kernel for this device
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def warmup_cosine(total_steps: int, warmup_steps: int):
    """LambdaLR factor: a linear warm-up over warmup_steps, then cosine decay to zero at total_steps."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def amp_dtype(device: torch.device) -> torch.dtype:
    # float16 on CUDA (with a GradScaler); bfloat16 on the CPU, whose fused RNN kernels run it natively and
    # whose exponent range needs no loss scaling.
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def train_step(loss: torch.Tensor, model: torch.nn.Module, optimizer, scheduler, scaler, clip: float) -> None:
    """Backward, clip the gradient norm, step the optimiser and the schedule."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
