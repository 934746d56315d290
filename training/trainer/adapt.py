"""`grucomplete adapt WORKSPACE`: fine-tune a model on one workspace, into that workspace's store.

This is `grucomplete train --from MODEL` (its fine-tuning recipe, `FINETUNE_DEFAULTS`) with
the settings of a job that runs unattended beside an editor: a time budget, one CPU thread, a
cap on the files read, fp16 weights. The result goes to the workspace's store
(`model/workspace_store.py`), where the language server finds it, with a record of the base
model's fingerprint, the files and the time it took. The adapted model is kept only if it beats
the base on the workspace's own validation files (the 2% held out by path hash); otherwise the
record says so and the base stays in use.

`--background-for PID` is how the language server runs it: lowest CPU priority, and a stop (saving
nothing) when the server that started it goes away, so no orphan keeps the CPU busy.

Exit status: 0 when adapted or already up to date, 1 when a file could not be written, 2 for a
usage or input error (such as too little code), 130/143 when SIGINT/SIGTERM stopped it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from grucomplete.model.checkpoint import (
    CONFIG_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    load_checkpoint,
    resolve_model_dir,
)
from grucomplete.model.workspace_store import (
    MODEL_DIR,
    RECORD_FILE,
    RUN_DIR,
    is_current,
    locked,
    read_record,
    remove_store,
    store_dir,
)

from .config import TrainConfig, TrainingError
from .finetune import FINETUNE_DEFAULTS
from .graceful_stop import StopRequest
from .resume import RESUME_DIR
from .run import BEST_DIR
from .token_cache import CACHE_DIR, read_cache
from .trainer import train_from_directory
from .validation import evaluate, validation_batcher

PROG = "grucomplete adapt"
log = logging.getLogger("grucomplete.training")

# At most this long (and `finetune.MAX_EPOCHS` passes). Measured on a shared 2-core machine,
# one thread fine-tunes the bundled model at ~650-1,500 tokens/s, so 10 minutes read
# ~0.4-0.9M tokens (with a quarter of standard library): one pass of a 30,000-70,000-line
# project.
TIME_BUDGET_MINUTES = 10.0
# A sample of at most this many files (spread over the tree by path hash): reading and
# tokenizing are not covered by the time budget, so they are bounded by this instead.
MAX_FILES = 2000


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("workspace", type=Path, help="the project folder to adapt to")
    p.add_argument(
        "--from", dest="base", default="default", metavar="DIR|default", help="base model"
    )
    p.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB",
        help="gitignore-style pattern of files not to learn from (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--time-budget-minutes", type=float, default=TIME_BUDGET_MINUTES, metavar="N",
        help=f"training time at most (default {TIME_BUDGET_MINUTES:g}); two passes at most anyway",
    )  # fmt: skip
    p.add_argument(
        "--max-files", type=int, default=MAX_FILES, metavar="N",
        help=f"learn from a sample of at most N files (default {MAX_FILES})",
    )  # fmt: skip
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument("--out", type=Path, help="the store (default: the workspace's in the cache)")
    p.add_argument("--force", action="store_true", help="adapt again even if up to date")
    p.add_argument("--reset", action="store_true", help="delete the adapted model and stop")
    p.add_argument(
        "--background-for", type=int, metavar="PID",
        help="run at the lowest CPU priority for process PID, our parent (the language "
        "server), and end as soon as it is gone",
    )  # fmt: skip
    return p


def _stop_with_parent(parent: int) -> None:
    """End once the parent is gone (we have been re-parented), as the parent would kill us.

    The parent names itself: one that died while we were still importing torch would
    otherwise go unnoticed. We end at once: a graceful stop would first finish a step and
    validate, and nothing of a stopped adaptation is kept anyway. Every file is written
    atomically, so nothing is left torn.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="grucomplete-parent-watch", daemon=True).start()


def _install(run_dir: Path, model_dir: Path) -> None:
    """Move the run's checkpoint into the store, weights first and config last, as a save
    does: a server watching the store reloads once the config, the last file, has changed."""
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in (WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE):
        os.replace(run_dir / name, model_dir / name)


def _write_record(store: Path, record: dict[str, Any]) -> None:
    tmp = store / f".{RECORD_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, store / RECORD_FILE)


def adapt(
    workspace: Path,
    store: Path,
    base: str = "default",
    exclude: tuple[str, ...] = (),
    time_budget_minutes: float = TIME_BUDGET_MINUTES,
    max_files: int = MAX_FILES,
    stop: StopRequest | None = None,
) -> dict[str, Any] | None:
    """Fine-tune `base` on `workspace` into `store`; returns the record written (None: stopped).

    The caller holds the store's lock.
    """
    config = TrainConfig(
        **{
            **asdict(TrainConfig()),
            **FINETUNE_DEFAULTS,
            "init_from": base,
            "time_budget_minutes": time_budget_minutes,
            "max_files": max_files,
            "exclude": exclude,
            "checkpoint_every": 0,  # an interrupted adaptation starts over; only the cache stays
            "save_dtype": "float16",  # half the disk; the bundled model ships as fp16 too
            "progress": False,
        }
    )
    stop = stop or StopRequest()
    run_dir = store / RUN_DIR
    started = time.monotonic()
    # From here the old adaptation is invalid: it is replaced, or gone if this one stops.
    (store / RECORD_FILE).unlink(missing_ok=True)
    train_from_directory(workspace, run_dir, config, stop=stop)
    if stop.signum is not None:
        return None
    adapted = load_checkpoint(run_dir)
    meta = adapted.metadata
    manifest, data = read_cache(run_dir / CACHE_DIR) or (None, None)
    if manifest is None or data is None:
        raise TrainingError(f"{run_dir / CACHE_DIR}: the token cache vanished during the run")
    # The base on the same validation files, the same way: does adapting help this project?
    batcher = validation_batcher(data.val, config.batch_size, config.window)
    base_model = load_checkpoint(resolve_model_dir(base)).model
    base_val = evaluate(base_model, batcher, data.card["chars"]["val"]).loss
    improved = meta["val"]["loss"] < base_val
    if improved:
        _install(run_dir, store / MODEL_DIR)
    else:
        shutil.rmtree(store / MODEL_DIR, ignore_errors=True)
    # Only a resumed run would need these, and adaptation starts over (the optimizer state
    # alone is 4x the model); the token cache stays for the next adaptation.
    for leftover in (RESUME_DIR, BEST_DIR):
        shutil.rmtree(run_dir / leftover, ignore_errors=True)
    files = manifest["files"]
    record = {
        "workspace": str(workspace.resolve()),
        "base": {k: meta["base_model"][k] for k in ("name", "path", "fingerprint")},
        "improved": improved,
        "val_loss": {"base": round(base_val, 4), "adapted": round(meta["val"]["loss"], 4)},
        "excluded": list(exclude),
        "files": {
            split: sorted(p for p, f in files.items() if f["split"] == split)
            for split in ("train", "val")
        },
        "tokens_seen": meta["tokens_seen"],
        "train_seconds": meta["train_seconds"],
        "tokens_per_s": round(meta["tokens_seen"] / max(meta["train_seconds"], 1e-9)),
        "total_seconds": round(time.monotonic() - started, 1),
        "threads": torch.get_num_threads(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_record(store, record)  # last: its presence means the model beside it is complete
    return record


def main(argv: list[str] | None = None) -> int:
    """Run `grucomplete adapt`; returns the exit status (see the module docstring)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    store: Path = args.out or store_dir(args.workspace)
    if args.reset:
        removed = remove_store(store)
        print(f"{PROG}: {'removed' if removed else 'nothing to remove at'} {store}")
        return 0
    if not args.workspace.is_dir():
        print(f"{PROG}: error: {args.workspace}: not a directory", file=sys.stderr)
        return 2
    if args.background_for is not None:
        with contextlib.suppress(OSError):  # already at the lowest priority, or not allowed
            os.nice(19)
        _stop_with_parent(args.background_for)
    torch.set_num_threads(max(1, args.threads))
    stop = StopRequest()
    try:
        with locked(store):
            if not args.force and is_current(store, args.base):
                log.info("%s is up to date (adapted from %s)", store, args.base)
                record = read_record(store)
            else:
                log.info("adapting %s to %s in %s", args.base, args.workspace, store)
                record = adapt(
                    args.workspace, store, args.base, tuple(args.exclude),
                    args.time_budget_minutes, args.max_files, stop,
                )  # fmt: skip
    except TrainingError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    if record is None:
        print(f"{PROG}: {stop.reason} stopped the adaptation; nothing was kept", file=sys.stderr)
        return stop.exit_code
    if record["improved"]:
        log.info(
            "adapted in %.0f s (%s tokens, %s tokens/s): validation loss %.3f -> %.3f",
            record["total_seconds"], f"{record['tokens_seen']:,}", record["tokens_per_s"],
            record["val_loss"]["base"], record["val_loss"]["adapted"],
        )  # fmt: skip
        print(store / MODEL_DIR)
    else:
        log.info(
            "adapting did not help on this workspace's validation files (%.3f -> %.3f): "
            "the base model stays", record["val_loss"]["base"], record["val_loss"]["adapted"],
        )  # fmt: skip
        print(resolve_model_dir(args.base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
