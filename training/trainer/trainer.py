"""The training loop: TBPTT over a token stream with AdamW, warmup + cosine, periodic validation.

`train` takes pre-tokenized streams (what tests and GPU scripts call); `train_from_directory`
reads a source tree through the token cache and calls `train`, from scratch or fine-tuning a
base model. The output directory is a loadable checkpoint (the final weights), with `best/`
(the best validation loss seen), `metrics.jsonl` (one JSON object per log line), `resume/` (the
exact state to continue from), `data/` (the token cache) and, with matplotlib,
`training_curve.png` beside it.

A run stops at the first of max_steps, the time budget, max_epochs, `patience` validations
without a new best, or SIGINT/SIGTERM (between two steps). Under torchrun each process trains
its own lanes through DistributedDataParallel; rank 0 alone validates and writes files.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from grucomplete.model.checkpoint import TOKENIZER_FILE
from grucomplete.model.lm import GRUConfig, GRULanguageModel
from grucomplete.model.tokenizer import CodeTokenizer

from . import distributed
from .config import TrainConfig, TrainingError
from .data import WindowBatcher, rank_share
from .distillation import Teacher, load_teacher
from .finetune import check_model_settings, load_base_model, with_base_text, with_config
from .graceful_stop import StopRequest
from .plot import CURVE_FILE, plot_training_curve
from .resume import (
    RESUME_DIR,
    check_compatible,
    read_resume_state,
    remove_interrupted_writes,
    resume_dir,
    saved_run,
    stream_fingerprint,
)
from .run import BEST_DIR, METRICS_FILE, TrainingRun, device_name
from .token_cache import CACHE_DIR, TokenData, prepare_tokens, read_cache

__all__ = [
    "BEST_DIR", "METRICS_FILE", "TrainingError", "learning_rate", "train", "train_from_directory",
]  # fmt: skip

log = logging.getLogger("grucomplete.training")


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    """Linear warmup over steps, times a cosine over `progress` (0 -> 1) down to min_lr_ratio.

    `progress` is the furthest along of steps/max_steps, elapsed/time budget and epochs/
    max_epochs, so a time-budgeted run reaches its floor exactly when the budget runs out, on
    any machine, without estimating its speed first. (The price: a time-bound run is not
    bit-reproducible.)
    """
    warmup = min(1.0, (step + 1) / max(config.warmup_steps, 1))
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * warmup * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


def _limits(config: TrainConfig, step: int, elapsed_s: float, windows: int) -> dict[str, float]:
    """How far the run is toward each limit it has (1.0: reached)."""
    fractions = {}
    if config.max_steps:
        fractions["max_steps"] = step / config.max_steps
    if config.max_epochs:
        fractions["max_epochs"] = step / (config.max_epochs * windows)
    if config.time_budget_minutes:
        fractions["time_budget"] = elapsed_s / (config.time_budget_minutes * 60)
    return fractions


def _resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda requested, but PyTorch sees no CUDA device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def train(
    train_ids: torch.Tensor,
    val_ids: torch.Tensor,
    tokenizer: CodeTokenizer,
    model_config: GRUConfig,
    train_config: TrainConfig,
    out_dir: Path,
    metadata: dict[str, Any] | None = None,
    *,
    base_model: GRULanguageModel | None = None,
    teacher: GRULanguageModel | None = None,
    resume: bool = False,
    stop: StopRequest | None = None,
) -> dict[str, Any]:
    """Train on `train_ids`, validate on `val_ids`, save checkpoints in `out_dir`.

    The model starts from `base_model`'s weights (fine-tuning; same config) or from a fresh
    initialisation; with `resume`, it continues the run whose state is in `out_dir/resume`
    exactly where it stopped. With `teacher` (same vocabulary) it learns the teacher's
    next-token distribution too, `train_config.distill_weight` of the loss (a resumed run's
    teacher starts reading afresh, as at an epoch's start). `stop` is checked before every
    step (by default a SIGINT or SIGTERM sets it). Returns a summary: steps, tokens_seen,
    train_seconds, stopped_by, val (the final model over the whole validation stream) and
    best_val (the best validation, the model saved in best/).
    """
    cfg = train_config
    stop = stop or StopRequest()
    if model_config.vocab_size != tokenizer.vocab_size:
        raise TrainingError(
            f"model vocab_size {model_config.vocab_size} does not match the tokenizer's "
            f"{tokenizer.vocab_size}"
        )
    if base_model is not None and base_model.config.to_dict() != model_config.to_dict():
        raise TrainingError("the base model's config differs from the model config to train")
    if teacher is not None and teacher.config.vocab_size != model_config.vocab_size:
        raise TrainingError(
            f"the teacher's vocabulary ({teacher.config.vocab_size}) differs from the model's "
            f"({model_config.vocab_size})"
        )
    device = _resolve_device(cfg.device)
    ddp = distributed.from_environment(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank if ddp.enabled else 0)
    # Streams live on the device (int32: 400 MB per 100M tokens), so no step waits on a copy.
    share = rank_share(train_ids, ddp.rank, ddp.world_size)
    batcher = WindowBatcher(share.to(device), cfg.batch_size, cfg.window)
    if len(batcher) == 0:
        raise TrainingError(
            f"the training split has {train_ids.numel()} tokens, too few for one batch "
            f"(--batch-size {cfg.batch_size} x --window {cfg.window} needs "
            f"{cfg.batch_size * cfg.window * ddp.world_size + 1}"
            + (f" across {ddp.world_size} processes" if ddp.enabled else "")
            + "); add sources or lower either flag"
        )
    if val_ids.numel() < 2:
        raise TrainingError("the validation split is empty; add more source files")

    torch.manual_seed(cfg.seed)
    model = GRULanguageModel(model_config)
    if base_model is not None:
        model.load_state_dict(base_model.state_dict())
    if ddp.enabled:
        torch.manual_seed(cfg.seed + ddp.rank)  # the same initial weights, own dropout masks
    run = TrainingRun(
        model.to(device),
        tokenizer,
        cfg,
        batcher,
        val_ids if ddp.is_main else None,
        Path(out_dir),
        dict(metadata or {}),
        ddp,
        device,
        stream_fingerprint(train_ids),
        None if teacher is None else Teacher(teacher, device),
    )
    if ddp.is_main:
        for directory in (run.out_dir, run.out_dir / BEST_DIR):
            if removed := remove_interrupted_writes(directory):
                log.info(f"{directory}: removed what an interrupted save left: {removed}")
    if resume:
        checkpoint, saved = read_resume_state(run.out_dir)
        check_compatible(
            run.out_dir, saved, cfg, model_config, tokenizer, run.data_fingerprint, ddp.world_size
        )
        run.restore(checkpoint.model, saved)
        window = batcher.position % len(batcher)
        log.info(
            f"resuming at step {run.pos.step} (epoch {batcher.epoch}, window {window} of "
            f"{len(batcher)})"
        )
    else:
        run.start_fresh()
    log.info(
        f"training {model.num_parameters() / 1e6:.2f}M parameters on {device_name(device)}"
        + (f" x {ddp.world_size} processes" if ddp.enabled else "")
        + f": {train_ids.numel():,} train tokens ({len(batcher)} windows per epoch), "
        f"{val_ids.numel():,} val tokens"
    )

    pos = run.pos
    stopped_by = "max_steps"
    bar_format = "train {percentage:3.0f}%|{bar:20}| [{elapsed}<{remaining}{postfix}]"
    bar = tqdm(
        total=1000, bar_format=bar_format, disable=not (cfg.progress and ddp.is_main), leave=True
    )
    with stop.handling_signals():
        try:
            with logging_redirect_tqdm():
                while True:
                    elapsed, stopping = ddp.agree(run.elapsed(), stop.should_stop(pos.step))
                    limits = _limits(cfg, pos.step, elapsed, len(batcher))
                    progress = max(limits.values())
                    if progress >= 1.0:
                        stopped_by = next(k for k, v in limits.items() if v >= 1.0)
                        bar.update(bar.total - bar.n)
                        break
                    if stopping:
                        stopped_by = stop.reason
                        log.info(f"stopped at step {pos.step} ({stop.reason})")
                        break
                    bar.update(int(progress * 1000) - bar.n)
                    run.train_step(learning_rate(cfg, pos.step, progress), progress)
                    if pos.step % cfg.log_every == 0 and ddp.is_main:
                        bar.set_postfix_str(run.log_training(), refresh=False)
                    elif pos.step < cfg.log_every and ddp.is_main and not bar.disable:
                        # Before the first logged step (minutes, on a laptop): the loss so far.
                        loss = run.running_loss()
                        bar.set_postfix_str(f"step {pos.step}, loss {loss:.3f}", refresh=True)
                    if pos.step % cfg.eval_every == 0 and run.scheduled_validation():
                        stopped_by = "early_stopping"
                        log.info(f"no better validation in {cfg.patience} tries: stopping early")
                        break
                    if cfg.checkpoint_every and pos.step % cfg.checkpoint_every == 0:
                        run.write_resume_state()
        finally:
            bar.close()
            run.stop_clock()
        # Written before the end-of-run validations: those are not part of the schedule, so
        # a resumed run must not count them for early stopping.
        run.write_resume_state()
        summary = run.finish(stopped_by)
    if ddp.is_main:
        plot_training_curve(run.out_dir / METRICS_FILE, run.out_dir / CURVE_FILE)
    return summary


def _shared_tokens(
    source: Path, cache_dir: Path, config: TrainConfig, tokenizer: CodeTokenizer | None
) -> TokenData:
    """Rank 0 reads or builds the token cache; the other ranks wait, then read it."""
    ddp = distributed.from_environment(_resolve_device(config.device).type)
    data: TokenData | None = None
    error: TrainingError | None = None
    if ddp.is_main:
        try:
            data = prepare_tokens(source, cache_dir, config, tokenizer)
        except TrainingError as e:
            error = e
    if ddp.broadcast(0.0 if error else 1.0) == 0.0:  # every rank reaches it: also the barrier
        raise error or TrainingError("rank 0 could not prepare the training data")
    if data is None:
        cached = read_cache(cache_dir)
        if cached is None:
            raise TrainingError(f"{cache_dir}: rank 0 wrote no readable token cache")
        data = cached[1]
    return data


def train_from_directory(
    source: Path,
    out_dir: Path,
    train_config: TrainConfig,
    model_config: GRUConfig | None = None,
    tokenizer: CodeTokenizer | None = None,
    *,
    resume: bool = False,
    stop: StopRequest | None = None,
) -> Path:
    """Train on the Python files under `source`; returns the checkpoint directory `out_dir`.

    With `train_config.init_from`, fine-tunes that checkpoint: its tokenizer and model config
    are kept (a `model_config` that changes the shape is an error). Otherwise a new tokenizer
    is trained on the training split unless `tokenizer` is given, and the model's vocab_size
    follows the tokenizer. With `resume`, continues the run saved in `out_dir` (its settings
    must match; see resume.py). Tokenized data is cached in `out_dir/data`.
    """
    cfg = train_config
    out_dir = Path(out_dir)
    metadata: dict[str, Any] = {}
    base_model = None
    if resume:
        _, saved_model, saved_metadata = saved_run(out_dir)
        model_config = model_config or GRUConfig.from_dict(saved_model)
        saved = resume_dir(out_dir) or out_dir / RESUME_DIR  # saved_run found it
        tokenizer = tokenizer or CodeTokenizer.load(saved / TOKENIZER_FILE)
        if "base_model" in saved_metadata:
            metadata["base_model"] = saved_metadata["base_model"]
    elif cfg.init_from:
        base = load_base_model(cfg.init_from)
        if tokenizer is not None and tokenizer.fingerprint != base.checkpoint.tokenizer.fingerprint:
            raise TrainingError(f"fine-tuning {cfg.init_from} keeps its own tokenizer")
        tokenizer = base.checkpoint.tokenizer
        requested = {} if model_config is None else model_config.to_dict()
        requested.pop("vocab_size", None)
        model_config = check_model_settings(base.checkpoint.model.config, requested, cfg.init_from)
        base_model = with_config(base.checkpoint.model, model_config)
        metadata["base_model"] = base.record
        log.info(f"fine-tuning {cfg.init_from} ({base.record['path']})")
    teacher = None
    if cfg.distill_from:
        loaded = load_teacher(cfg.distill_from, tokenizer)
        tokenizer = loaded.checkpoint.tokenizer  # the one given, or without one the teacher's
        teacher, metadata["teacher"] = loaded.checkpoint.model, loaded.record
        log.info(f"learning from the teacher {cfg.distill_from} ({loaded.record['path']})")
    data = _shared_tokens(Path(source), out_dir / CACHE_DIR, cfg, tokenizer)
    model_config = replace(model_config or GRUConfig(), vocab_size=data.tokenizer.vocab_size)
    metadata["data"] = data.card
    train_ids = data.train
    if cfg.init_from and cfg.base_share > 0:
        train_ids = with_base_text(train_ids, data.tokenizer, cfg.base_share)
    summary = train(
        train_ids,
        data.val,
        data.tokenizer,
        model_config,
        cfg,
        out_dir,
        metadata,
        base_model=base_model,
        teacher=teacher,
        resume=resume,
        stop=stop,
    )
    if "val" in summary:
        val = summary["val"]
        log.info(
            f"saved {out_dir}: val loss {val['loss']:.4f}, {val['bits_per_char']:.3f} bits/char "
            f"after {summary['steps']} steps ({summary['stopped_by']})"
        )
    return out_dir
