"""Config section `runtime`: how a run executes on this machine (device, precision, compilation, threads),
never what it computes beyond float rounding."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from toss_core.config.base import Strict


class RuntimeConfig(Strict):
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="where the network and CatBoost train and predict; auto = cuda when torch sees one",
    )
    amp: bool = Field(
        True, description="mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling)"
    )
    compile: bool = Field(False, description="torch.compile the network for training (pays off on CUDA)")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = Field(
        "default", description="the torch.compile mode when compile is true (reduce-overhead: CUDA graphs)"
    )
    deterministic: bool = Field(
        False, description="deterministic torch kernels (slower on CUDA); an op without one warns"
    )
    num_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads of torch and the tree families; null = every core (torch: all but one)",
    )
