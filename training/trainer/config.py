"""Training configuration: one dataclass whose fields are also the `grucomplete train` flags.

Model shape is not here: it comes from `GRUConfig`, and the checkpoint stores both.
`TrainingError` lives here too, beside the settings whose misuse it usually reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# The limits that end a run; naming any of them on the command line replaces all the others.
STOP_LIMITS = ("max_steps", "time_budget_minutes", "max_epochs")


class TrainingError(Exception):
    """A problem with the user's input (no sources, too little data); the message says which."""


@dataclass
class TrainConfig:
    batch_size: int = 32  # parallel lanes of the token stream
    window: int = 128  # tokens per TBPTT window: how far back gradients flow
    lr: float = 5e-3  # peak learning rate, reached after warmup
    min_lr_ratio: float = 0.1  # the cosine decay ends at this fraction of lr
    weight_decay: float = 0.01  # AdamW decay of weight matrices (not biases)
    warmup_steps: int = 100  # linear warmup from 0 to lr
    max_steps: int | None = 2000  # stop after this many steps ("none": the other limits only)
    time_budget_minutes: float | None = None  # stop after this long, whichever comes first
    max_epochs: float | None = None  # stop after this many passes over the training data
    grad_clip: float = 1.0  # clip the global gradient norm to this (0: no clipping)
    eval_every: int = 200  # steps between validations (and best-checkpoint saves)
    eval_windows: int = 50  # windows per periodic validation; the final one reads all
    log_every: int = 20  # steps between metrics.jsonl lines and progress updates
    patience: int = 5  # stop after this many validations without a new best (0: never)
    checkpoint_every: int = 500  # steps between resume states in OUT/resume (0: only at the end)
    scheduled_sampling: float = 0.0  # feed the model its own guesses for up to this share of inputs
    init_from: str | None = None  # fine-tune this checkpoint ("default": the bundled model)
    distill_from: str | None = None  # learn this model's next-token distribution too ("default")
    distill_weight: float = 0.5  # with --distill-from: the teacher's share of the loss
    # The standard library is part of the bundled model's corpus and on every machine.
    base_share: float = 0.0  # with --from: share of the stream read from the stdlib, to forget less
    seed: int = 0  # seeds weight init and dropout
    device: str = "auto"  # "auto" (CUDA if present), "cpu" or "cuda"
    vocab_size: int = 8192  # tokenizer size when train_from_directory trains one
    val_fraction: float = 0.02  # share of files held out for validation
    max_files: int | None = None  # train on at most this many files (a sample of the tree)
    max_file_bytes: int = 1_000_000  # skip larger files: generated code or data
    exclude: tuple[str, ...] = ()  # gitignore-style patterns of files not to train on
    save_dtype: str = "float32"  # weights on disk; "float16" halves a shipped model
    progress: bool = True  # show a progress bar on stderr

    def __post_init__(self) -> None:
        self.exclude = tuple(self.exclude)  # a saved run's JSON gives a list
        positive = ("batch_size", "window", "eval_every", "eval_windows", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if all(getattr(self, name) is None for name in STOP_LIMITS):
            raise ValueError("set max_steps, time_budget_minutes or max_epochs")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, not {self.max_steps}")
        for name in ("time_budget_minutes", "max_epochs"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("patience", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)}")
        if not 0.0 <= self.scheduled_sampling <= 1.0:
            raise ValueError(
                f"scheduled_sampling must be between 0 and 1, not {self.scheduled_sampling}"
            )
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be between 0 and 1, not {self.distill_weight}")
        if not 0.0 <= self.base_share < 1.0:
            raise ValueError(f"base_share must be at least 0 and below 1, not {self.base_share}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be between 0 and 1, not {self.val_fraction}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', not {self.device!r}")
        if self.save_dtype not in DTYPES:
            raise ValueError(f"save_dtype must be one of {sorted(DTYPES)}")
