"""The training loop: TBPTT over a token stream with AdamW, warmup + cosine, periodic validation.

`train` takes pre-tokenized streams (what tests and GPU scripts call); `train_from_directory`
walks a source tree, trains a tokenizer on the training split, and calls `train`. The output
directory is a loadable checkpoint (the final weights), with `best/` (the best validation loss
seen at an evaluation) and `metrics.jsonl` (one JSON object per log line) beside it.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from grucomplete.model.checkpoint import save_checkpoint
from grucomplete.model.lm import GRUConfig, GRULanguageModel, State
from grucomplete.model.tokenizer import CodeTokenizer, train_tokenizer

from .config import DTYPES, TrainConfig
from .corpus import load_corpus
from .data import WindowBatcher, encode_documents
from .evaluation import (
    EvalResult,
    autocast_for,
    detach_state,
    evaluate,
    validation_batcher,
)

log = logging.getLogger("grucomplete.training")

BEST_DIR = "best"
METRICS_FILE = "metrics.jsonl"


class TrainingError(Exception):
    """A problem with the user's input (no sources, too little data); the message says which."""


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    """Linear warmup over steps, times a cosine over `progress` (0 -> 1) down to min_lr_ratio.

    `progress` is the further along of steps/max_steps and elapsed/time budget, so a
    time-budgeted run reaches its floor exactly when the budget runs out, on any machine,
    without estimating its speed first. (The price: a time-bound run is not bit-reproducible.)
    """
    warmup = min(1.0, (step + 1) / max(config.warmup_steps, 1))
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * warmup * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


def _progress(config: TrainConfig, step: int, elapsed_s: float) -> float:
    by_steps = step / config.max_steps if config.max_steps else 0.0
    by_time = elapsed_s / (config.time_budget_minutes * 60) if config.time_budget_minutes else 0.0
    return max(by_steps, by_time)


def _resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda requested, but PyTorch sees no CUDA device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def _optimizer(
    model: GRULanguageModel, config: TrainConfig, device: torch.device
) -> torch.optim.AdamW:
    # Decay weight matrices only: shrinking biases or gains toward zero has no regularising use.
    params = list(model.parameters())  # the tied embedding/output matrix appears once
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, fused=device.type == "cuda")


def train(
    train_ids: torch.Tensor,
    val_ids: torch.Tensor,
    tokenizer: CodeTokenizer,
    model_config: GRUConfig,
    train_config: TrainConfig,
    out_dir: Path,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a new model on `train_ids`, validate on `val_ids`, save checkpoints in `out_dir`.

    Returns a summary: steps, tokens_seen, train_seconds, stopped_by, val (the final model over
    the whole validation stream) and best_val (the best periodic validation, saved in best/).
    """
    cfg = train_config
    if model_config.vocab_size != tokenizer.vocab_size:
        raise TrainingError(
            f"model vocab_size {model_config.vocab_size} does not match the tokenizer's "
            f"{tokenizer.vocab_size}"
        )
    device = _resolve_device(cfg.device)
    # Streams live on the device (int32: 400 MB per 100M tokens), so no step waits on a copy.
    batcher = WindowBatcher(train_ids.to(device), cfg.batch_size, cfg.window)
    if len(batcher) == 0:
        raise TrainingError(
            f"the training split has {train_ids.numel()} tokens, too few for one batch "
            f"(--batch-size {cfg.batch_size} x --window {cfg.window} needs "
            f"{cfg.batch_size * cfg.window + 1}); add sources or lower either flag"
        )
    if val_ids.numel() < 2:
        raise TrainingError("the validation split is empty; add more source files")
    val_batcher = validation_batcher(val_ids.to(device), cfg.batch_size, cfg.window)
    val_chars = len(tokenizer.decode(val_ids.tolist()))  # the boundary decodes to nothing

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = GRULanguageModel(model_config).to(device)
    model.train()
    optimizer = _optimizer(model, cfg, device)
    log.info(
        f"training {model.num_parameters() / 1e6:.2f}M parameters on {_device_name(device)}: "
        f"{train_ids.numel():,} train tokens ({len(batcher)} windows per epoch), "
        f"{val_ids.numel():,} val tokens"
    )

    metrics_path = out_dir / METRICS_FILE
    metrics_path.write_text("", encoding="utf-8")  # a new run starts a new log
    summary: dict[str, Any] = {"best_val": None}
    best_loss = math.inf

    def record(kind: str, **values: Any) -> None:
        # Appending line by line lets `tail -f metrics.jsonl` follow a run as it goes.
        with metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"kind": kind, **values}) + "\n")

    def save(directory: Path, val: dict[str, Any], best: dict[str, Any] | None) -> None:
        card = {
            **(metadata or {}),
            "steps": step,
            "tokens_seen": tokens_seen,
            "train_seconds": round((end or time.perf_counter()) - start, 1),
            "device": _device_name(device),
            "val": val,
            "best_val": best,
            "train_config": asdict(cfg),
        }
        save_checkpoint(directory, model, tokenizer, card, dtype=DTYPES[cfg.save_dtype])

    def validate(max_windows: int | None) -> EvalResult:
        result = evaluate(model, val_batcher, val_chars, max_windows, device)
        record(
            "val", step=step, tokens_seen=tokens_seen, full=max_windows is None, **result.to_dict()
        )
        log.info(
            f"step {step}: val loss {result.loss:.4f}, perplexity {result.perplexity:.2f}, "
            f"{result.bits_per_char:.3f} bits/char"
        )
        return result

    def validate_and_keep_best() -> None:
        nonlocal best_loss
        result = validate(cfg.eval_windows)
        if result.loss < best_loss:
            best_loss = result.loss
            summary["best_val"] = {"step": step, **result.to_dict()}
            save(out_dir / BEST_DIR, summary["best_val"], summary["best_val"])

    step = tokens_seen = 0
    end: float | None = None  # when the training loop stopped
    state: State | None = None
    stopped_by = "max_steps"
    start = last_log = time.perf_counter()
    loss_sum = torch.zeros((), device=device)
    bar_format = "train {percentage:3.0f}%|{bar:20}| [{elapsed}<{remaining}{postfix}]"
    bar = tqdm(total=1000, bar_format=bar_format, disable=not cfg.progress, leave=True)
    try:
        with logging_redirect_tqdm():
            while True:
                progress = _progress(cfg, step, time.perf_counter() - start)
                if progress >= 1.0:
                    stopped_by = "max_steps" if cfg.max_steps == step else "time_budget"
                    bar.update(bar.total - bar.n)
                    break
                bar.update(int(progress * 1000) - bar.n)
                lr = learning_rate(cfg, step, progress)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                if batcher.at_epoch_start:
                    state = None  # lanes restart; the old state belongs to the lane's end
                inputs, targets = (t.to(device, non_blocking=True) for t in next(batcher))
                with autocast_for(device):
                    logits, state = model(inputs, state)  # (B, T, V)
                loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                state = detach_state(state)
                step += 1
                tokens_seen += batcher.tokens_per_window
                loss_sum += loss.detach()  # summed on the device: no sync every step

                if step % cfg.log_every == 0:
                    now = time.perf_counter()
                    train_loss = loss_sum.item() / cfg.log_every
                    speed = cfg.log_every * batcher.tokens_per_window / (now - last_log)
                    loss_sum.zero_()
                    last_log = now
                    record(
                        "train",
                        step=step,
                        tokens_seen=tokens_seen,
                        loss=train_loss,
                        lr=lr,
                        tokens_per_s=round(speed),
                        elapsed_s=round(now - start, 2),
                    )
                    bar.set_postfix_str(
                        f"step {step}, {speed:,.0f} tok/s, loss {train_loss:.3f}", refresh=False
                    )
                if step % cfg.eval_every == 0:
                    validate_and_keep_best()
    except KeyboardInterrupt:
        stopped_by = "interrupted"
        log.warning("interrupted at step %d; validating and saving what was learned", step)
    finally:
        bar.close()
        end = time.perf_counter()

    if step > 0 and step % cfg.eval_every != 0:
        validate_and_keep_best()  # the same windows as the periodic ones, comparable to them
    final = validate(None)
    summary.update(
        steps=step,
        tokens_seen=tokens_seen,
        train_seconds=round(end - start, 1),
        stopped_by=stopped_by,
        val=final.to_dict(),
        checkpoint=str(out_dir),
        best_checkpoint=str(out_dir / BEST_DIR) if summary["best_val"] else None,
    )
    save(out_dir, summary["val"], summary["best_val"])
    record("summary", **summary)
    return summary


def train_from_directory(
    source: Path,
    out_dir: Path,
    train_config: TrainConfig,
    model_config: GRUConfig,
    tokenizer: CodeTokenizer | None = None,
) -> Path:
    """Train on the Python files under `source`; returns the checkpoint directory `out_dir`.

    Without `tokenizer`, a new one is trained on the training split. The model's vocab_size
    always follows the tokenizer (the caller's `model_config` is left unchanged).
    """
    source = Path(source)
    if not source.is_dir():
        raise TrainingError(f"{source}: not a directory")
    cfg = train_config
    log.info("reading Python sources under %s", source)
    corpus = load_corpus(source, cfg.val_fraction, cfg.max_file_bytes, cfg.max_files)
    stats = corpus.stats
    if stats.files == 0:
        raise TrainingError(f"{source}: no Python source files to train on")
    if not corpus.val:
        raise TrainingError(
            f"{source}: only one usable Python file; training needs at least two "
            "(one is held out for validation)"
        )
    log.info(
        f"{stats.files} files ({len(corpus.train)} train, {len(corpus.val)} val), "
        f"{stats.chars / 1e6:.1f}M characters; skipped {stats.duplicates} duplicate, "
        f"{stats.skipped_large} large, {stats.skipped_binary} binary, "
        f"{stats.skipped_undecodable} undecodable"
    )
    if tokenizer is None:
        log.info("training a %d-token BPE tokenizer on the training split", cfg.vocab_size)
        tokenizer = train_tokenizer((d.text for d in corpus.train), cfg.vocab_size)
    model_config = replace(model_config, vocab_size=tokenizer.vocab_size)
    train_ids = encode_documents(tokenizer, (d.text for d in corpus.train))
    val_ids = encode_documents(tokenizer, (d.text for d in corpus.val))
    data_card = {
        "source": source.resolve().name,
        "files": {"train": len(corpus.train), "val": len(corpus.val)},
        "chars": {
            "train": sum(len(d.text) for d in corpus.train),
            "val": sum(len(d.text) for d in corpus.val),
        },
        "tokens": {"train": train_ids.numel(), "val": val_ids.numel()},
        "duplicates_removed": stats.duplicates,
        "skipped": {
            "undecodable": stats.skipped_undecodable,
            "large": stats.skipped_large,
            "binary": stats.skipped_binary,
            "empty": stats.skipped_empty,
        },
    }
    summary = train(
        train_ids, val_ids, tokenizer, model_config, cfg, Path(out_dir), {"data": data_card}
    )
    val = summary["val"]
    log.info(
        f"saved {out_dir}: val loss {val['loss']:.4f}, {val['bits_per_char']:.3f} bits/char "
        f"after {summary['steps']} steps ({summary['stopped_by']})"
    )
    return Path(out_dir)
