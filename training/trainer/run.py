"""One training run's state and the files it keeps: the step, metrics.jsonl, best/, resume/.

`TrainingRun` owns what the loop in trainer.py changes from step to step -- the model and its
DDP wrapper, the optimizer, the position (`RunPosition`), the carried hidden state -- and does
the bookkeeping around it: validation with early-stopping counts, checkpoints, the resume
state, the log. Collective calls (gathering states, broadcasting a validation loss) are made
by every rank; files are written by rank 0 only.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from grucomplete.model.checkpoint import CONFIG_FILE, save_checkpoint
from grucomplete.model.lm import GRULanguageModel, State
from grucomplete.model.tokenizer import CodeTokenizer

from .config import DTYPES, TrainConfig
from .data import WindowBatcher
from .distillation import Teacher, training_loss
from .distributed import Distributed, parameter_checksum
from .resume import (
    RunPosition,
    discard_resume_state,
    restore_rng,
    resume_dir,
    rng_state,
    write_resume_state,
)
from .scheduled_sampling import mix_in_predictions, sampling_probability
from .validation import EvalResult, autocast_for, detach_state, evaluate, validation_batcher

log = logging.getLogger("grucomplete.training")

BEST_DIR = "best"
METRICS_FILE = "metrics.jsonl"


def device_name(device: torch.device) -> str:
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


def _state_to_cpu(state: State | None) -> Any:
    if state is None:
        return None
    return [t.cpu() for t in state] if isinstance(state, tuple) else state.cpu()


def _state_to(saved: Any, device: torch.device) -> State | None:
    if saved is None:
        return None
    return tuple(t.to(device) for t in saved) if isinstance(saved, list) else saved.to(device)


class TrainingRun:
    def __init__(
        self,
        model: GRULanguageModel,
        tokenizer: CodeTokenizer,
        config: TrainConfig,
        batcher: WindowBatcher,
        val_ids: torch.Tensor | None,
        out_dir: Path,
        metadata: dict[str, Any],
        ddp: Distributed,
        device: torch.device,
        data_fingerprint: str,
        teacher: Teacher | None = None,
    ) -> None:
        self.model, self.tokenizer, self.config = model.train(), tokenizer, config
        self.teacher = teacher
        self.batcher, self.out_dir, self.metadata = batcher, out_dir, metadata
        self.ddp, self.device, self.data_fingerprint = ddp, device, data_fingerprint
        self.trained = ddp.wrap(model, device)  # what the training forward runs through
        self.optimizer = _optimizer(model, config, device)
        self.pos = RunPosition()
        self.state: State | None = None  # carried from window to window
        self.loss_sum = torch.zeros((), device=device)  # summed on the device: no sync a step
        self.best_val: dict[str, Any] | None = None  # the metrics of the model in best/
        self.lr = config.lr  # the latest step's learning rate
        self.metrics_path = out_dir / METRICS_FILE
        self._clock_start = self._last_log_time = time.perf_counter()
        self._stopped_at: float | None = None  # the clock, frozen when the loop ends
        self._timed_from_step = 0  # tokens/s covers the steps since this one
        if val_ids is not None:  # rank 0 validates
            b, t = config.batch_size, config.window
            self.val_batcher = validation_batcher(val_ids.to(device), b, t)
            self.val_chars = len(tokenizer.decode(val_ids.tolist()))  # the boundary is empty

    # --- starting --------------------------------------------------------------------------

    def start_fresh(self) -> None:
        if not self.ddp.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume_dir(self.out_dir) is not None:
            log.warning(
                f"{self.out_dir}: discarding the resume state of an earlier run "
                "(pass --resume to continue it instead)"
            )
            discard_resume_state(self.out_dir)
        self.metrics_path.write_text("", encoding="utf-8")  # a new run starts a new log

    def restore(self, model: GRULanguageModel, saved: dict[str, Any]) -> None:
        """Continue from a resume state: weights, optimizer, position, RNG, carried state."""
        self.model.load_state_dict(model.state_dict())
        self.optimizer.load_state_dict(saved["optimizer"])
        self.pos = RunPosition(**saved["position"])
        self.batcher.position = saved["batcher_position"]
        mine = saved["ranks"][self.ddp.rank]
        restore_rng(mine["rng"], self.device)
        self.state = _state_to(mine["hidden"], self.device)
        self.loss_sum = saved["loss_sum"].to(self.device)
        self._clock_start = time.perf_counter() - self.pos.elapsed_s
        self._timed_from_step = self.pos.step
        if not self.ddp.is_main:
            return
        if self.metrics_path.is_file():
            with self.metrics_path.open("r+b") as f:  # drop what was logged after the state
                f.truncate(self.pos.metrics_bytes)
        best = self.out_dir / BEST_DIR / CONFIG_FILE
        if best.is_file():
            self.best_val = json.loads(best.read_text(encoding="utf-8"))["metadata"]["best_val"]
        self.record("resume", step=self.pos.step, tokens_seen=self.pos.tokens_seen)

    # --- the step --------------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds of training in this run, resumed parts included (validations count too)."""
        if self._stopped_at is not None:
            return self._stopped_at
        return time.perf_counter() - self._clock_start

    def stop_clock(self) -> None:
        """Training is over: what follows (final validation, saving) is not training time."""
        self._stopped_at = self.elapsed()

    def train_step(self, lr: float, progress: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.batcher.at_epoch_start:
            self.state = None  # lanes restart; the old state belongs to the lane's end
            if self.teacher is not None:
                self.teacher.reset()
        inputs, targets = next(self.batcher)  # (B, T) each, already on the device
        probability = sampling_probability(self.config.scheduled_sampling, progress)
        with autocast_for(self.device):
            teacher_log_probs = self.teacher.log_probs(inputs) if self.teacher else None
            inputs = mix_in_predictions(self.model, inputs, self.state, probability)
            logits, state = self.trained(inputs, self.state)  # (B, T, V)
        loss, cross_entropy = training_loss(
            logits, targets, teacher_log_probs, self.config.distill_weight
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.state = detach_state(state)
        self.pos.step += 1
        self.pos.tokens_seen += self.batcher.tokens_per_window * self.ddp.world_size
        self.loss_sum += cross_entropy.detach()  # comparable with and without a teacher
        self.lr = lr

    def log_training(self) -> str:
        """Write a train line to metrics.jsonl; returns the progress bar's text."""
        now, steps = time.perf_counter(), self.pos.step - self._timed_from_step
        train_loss = self.loss_sum.item() / self.config.log_every  # a resume restores the sum
        tokens = steps * self.batcher.tokens_per_window * self.ddp.world_size
        speed = tokens / max(now - self._last_log_time, 1e-9)
        self.loss_sum.zero_()
        self._last_log_time, self._timed_from_step = now, self.pos.step
        self.record(
            "train",
            step=self.pos.step,
            tokens_seen=self.pos.tokens_seen,
            loss=train_loss,
            lr=self.lr,
            tokens_per_s=round(speed),
            elapsed_s=round(self.elapsed(), 2),
        )
        return f"step {self.pos.step}, {speed:,.0f} tok/s, loss {train_loss:.3f}"

    # --- validation ------------------------------------------------------------------------

    def record(self, kind: str, **values: Any) -> None:
        # Appending line by line lets `tail -f metrics.jsonl` follow a run as it goes.
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"kind": kind, **values}) + "\n")

    def validate(self, max_windows: int | None) -> EvalResult:
        """Rank 0 only: the model on the validation stream (all of it with None)."""
        result = evaluate(self.model, self.val_batcher, self.val_chars, max_windows, self.device)
        total = len(self.val_batcher)
        covered = "all" if max_windows is None or max_windows >= total else f"{max_windows} of"
        self.record(
            "val",
            step=self.pos.step,
            tokens_seen=self.pos.tokens_seen,
            full=max_windows is None,
            **result.to_dict(),
        )
        log.info(
            f"step {self.pos.step}: val loss {result.loss:.4f}, perplexity "
            f"{result.perplexity:.2f}, {result.bits_per_char:.3f} bits/char "
            f"({covered} {total} validation windows)"
        )
        return result

    def running_loss(self) -> float:
        """The mean training loss since the last logged step (for the progress bar)."""
        return self.loss_sum.item() / max(1, self.pos.step - self._timed_from_step)

    def keep_if_best(self, result: EvalResult) -> None:
        if self.best_val is None or result.loss < self.best_val["loss"]:
            self.best_val = {"step": self.pos.step, **result.to_dict()}
            self.save(self.out_dir / BEST_DIR, self.best_val)

    def scheduled_validation(self) -> bool:
        """The every-eval_every validation, on every rank; True when patience has run out."""
        result = self.validate(self.config.eval_windows) if self.ddp.is_main else None
        loss = self.ddp.broadcast(result.loss if result else 0.0)  # one decision for all ranks
        if result is not None:
            self.keep_if_best(result)
        if loss < self.pos.best_loss:
            self.pos.best_loss, self.pos.evals_since_best = loss, 0
        else:
            self.pos.evals_since_best += 1
        return 0 < self.config.patience <= self.pos.evals_since_best

    # --- saving ----------------------------------------------------------------------------

    def card(self, val: dict[str, Any] | None) -> dict[str, Any]:
        return {
            **self.metadata,
            "steps": self.pos.step,
            "tokens_seen": self.pos.tokens_seen,
            "train_seconds": round(self.elapsed(), 1),
            "device": device_name(self.device),
            **({"world_size": self.ddp.world_size} if self.ddp.enabled else {}),
            "val": val,
            "best_val": self.best_val,
            "train_config": asdict(self.config),
        }

    def save(self, directory: Path, val: dict[str, Any] | None) -> None:
        dtype = DTYPES[self.config.save_dtype]
        save_checkpoint(directory, self.model, self.tokenizer, self.card(val), dtype=dtype)

    def write_resume_state(self) -> None:
        """Save the exact state after the current step (a collective call: every rank)."""
        ranks = self.ddp.gather(
            {"rng": rng_state(self.device), "hidden": _state_to_cpu(self.state)}
        )
        if not self.ddp.is_main:
            return
        self.pos.elapsed_s = self.elapsed()
        self.pos.metrics_bytes = self.metrics_path.stat().st_size
        state = {
            "position": asdict(self.pos),
            "optimizer": self.optimizer.state_dict(),
            "batcher_position": self.batcher.position,
            "epoch": self.batcher.epoch,
            "ranks": ranks,
            "loss_sum": self.loss_sum.detach().cpu(),
            "train_config": asdict(self.config),
            "model_config": self.model.config.to_dict(),
            "tokenizer_fingerprint": self.tokenizer.fingerprint,
            "data_fingerprint": self.data_fingerprint,
            "world_size": self.ddp.world_size,
        }
        write_resume_state(self.out_dir, self.model, self.tokenizer, self.card(None), state)

    def finish(self, stopped_by: str) -> dict[str, Any]:
        """The end-of-run validations and the final checkpoint; returns the run's summary."""
        summary: dict[str, Any] = {
            "steps": self.pos.step,
            "tokens_seen": self.pos.tokens_seen,
            "train_seconds": round(self.elapsed(), 1),
            "stopped_by": stopped_by,
        }
        if self.ddp.enabled:  # a replica that drifted would mean DDP was not doing its job
            summary["replica_checksums"] = self.ddp.gather(parameter_checksum(self.model))
        if not self.ddp.is_main:
            return summary
        sampled = self.config.eval_windows
        if sampled >= len(self.val_batcher):  # the periodic validation reads it all already
            result = self.validate(None)
            if self.pos.step > 0 and self.pos.step % self.config.eval_every != 0:
                self.keep_if_best(result)
            final = result.to_dict()
        else:
            if self.pos.step > 0 and self.pos.step % self.config.eval_every != 0:
                self.keep_if_best(self.validate(sampled))  # comparable to the rest
            final = self.validate(None).to_dict()
        self.save(self.out_dir, final)
        summary.update(
            val=final,
            best_val=self.best_val,
            checkpoint=str(self.out_dir),
            best_checkpoint=str(self.out_dir / BEST_DIR) if self.best_val else None,
        )
        self.record("summary", **summary)
        return summary
