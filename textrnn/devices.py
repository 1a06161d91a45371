"""Which device a run or a loaded model uses."""

import torch

from .errors import ConfigError


def resolve_device(device: str | torch.device | None) -> torch.device:
    """'auto' (or None) picks CUDA when present; 'cuda' without a GPU is an error, not a silent fallback."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ConfigError(f"unknown device {str(device)!r}: use auto, cpu, cuda or cuda:N ({error})") from None
    if device.type not in ("cpu", "cuda"):  # mps, xpu, meta...: kernels textrnn has never been run or tested on
        raise ConfigError(f"device {str(device)!r} is not supported: use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu")
    return device
