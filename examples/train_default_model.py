"""How the bundled models are trained: the manifest corpus, a fixed tokenizer, one GPU run.

    grucomplete fetch-corpus .work/corpus && grucomplete fetch-corpus .work/heldout --heldout
    python examples/train_default_model.py .work/corpus .work/heldout \\
        model/default/tokenizer.json OUT --device cuda

Tokenizes once, then trains each model of `MODELS` for its share of the time on the same
stream and writes OUT/NAME: the checkpoint to ship (the final or the best-validated weights,
whichever reads the held-out packages better) with its data card and training budget in
config.json, and summary.json beside it. A later GPU session continues them (`--init
default=model/default fast=model/fast`), the fast one learning the new default's distribution
too (`--distill fast=default`). The tokenizer is fitted beforehand
(benchmarks/tokenizer_choice.py fit), so the GPU time goes to training. Held-out bits per
character are measured on packages not in the corpus.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.model.lm import GRUConfig
from grucomplete.model.tokenizer import CodeTokenizer
from grucomplete.training.corpus.corpus import load_corpus
from grucomplete.training.trainer.config import TrainConfig
from grucomplete.training.trainer.data import encode_documents
from grucomplete.training.trainer.distillation import load_teacher
from grucomplete.training.trainer.finetune import load_base_model
from grucomplete.training.trainer.trainer import train
from grucomplete.training.trainer.validation import evaluate, validation_batcher

# The two bundled models. `fast` costs about half of `default` per beam step and per token
# read (benchmarks/model_cost.py), for machines where the default is too slow.
MODELS = {
    "default": GRUConfig(hidden_size=768, embed_dim=256, num_layers=2),
    "fast": GRUConfig(hidden_size=448, embed_dim=160, num_layers=2),
}


def _data_card(corpus_dir: Path, corpus_stats: dict, train_tokens: int, val_tokens: int) -> dict:
    card: dict[str, Any] = {
        "corpus": corpus_dir.name,
        "stats": corpus_stats,
        "train_tokens": train_tokens,
        "val_tokens": val_tokens,
        "manifest": "training/corpus/default_corpus.toml (pinned sdists with sha256) + "
        "the CPython standard library",
        "heldout_manifest": "training/corpus/heldout_packages.toml (disjoint; never trained on)",
    }
    try:
        from grucomplete.training.corpus.manifest import data_card, load_manifest

        card["sources"] = data_card(corpus_dir, load_manifest())
    except Exception as e:  # the card is documentation: never lose a training run over it
        card["sources_error"] = repr(e)
    return card


def _heldout(path: Path, held_ids: torch.Tensor, chars: int, device: str) -> dict[str, float]:
    model = load_checkpoint(path, device=device).model
    return evaluate(model, validation_batcher(held_ids.to(device), 32, 256), chars).to_dict()


def _keep_better(out: Path, summary: dict[str, Any]) -> str:
    """Leave in `out` the weights that read the held-out packages better; drop the rest."""
    chosen = "final"
    if summary["heldout_best"]["loss"] < summary["heldout_final"]["loss"]:
        chosen = "best"
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(out / "best" / name, out / name)
    for leftover in ("best", "resume", "data"):
        shutil.rmtree(out / leftover, ignore_errors=True)
    return chosen


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus", type=Path)
    p.add_argument("heldout", type=Path)
    p.add_argument("tokenizer", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument(
        "--minutes",
        nargs="+",
        default=["default=3.2", "fast=2.0"],
        metavar="NAME=MINUTES",
        help=f"which of {', '.join(MODELS)} to train, and for how long each",
    )
    p.add_argument(
        "--init",
        nargs="+",
        default=[],
        metavar="NAME=CHECKPOINT",
        help="continue these models from a checkpoint of theirs (a second GPU session) "
        "instead of a fresh start; config.json records the checkpoint as base_model",
    )
    p.add_argument(
        "--distill",
        nargs="+",
        default=[],
        metavar="NAME=TEACHER",
        help="these models also learn a teacher's next-token distribution (a checkpoint, or "
        "another model of this run by name, trained before it); config.json records it",
    )
    p.add_argument(
        "--distill-weight", type=float, default=0.5, help="the teacher's share of the loss"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--lr", type=float, default=6e-3)
    p.add_argument("--max-files", type=int, default=None)
    args = p.parse_args()
    budgets = {name: float(m) for name, m in (b.split("=", 1) for b in args.minutes)}
    starts = dict(b.split("=", 1) for b in args.init)
    teachers = dict(b.split("=", 1) for b in args.distill)
    if unknown := (set(budgets) | set(starts) | set(teachers)) - set(MODELS):
        p.error(f"unknown model {sorted(unknown)}: choose from {', '.join(MODELS)}")
    order = list(budgets)
    for name, teacher in teachers.items():
        later = name not in budgets or order.index(teacher) >= order.index(name)
        if teacher in budgets and later:
            p.error(f"--distill {name}={teacher}: {teacher} must be trained before {name}")

    start = time.time()
    tokenizer = CodeTokenizer.load(args.tokenizer)
    corpus = load_corpus(args.corpus, val_fraction=0.01, max_files=args.max_files)
    train_ids = encode_documents(tokenizer, (d.text for d in corpus.train))
    val_ids = encode_documents(tokenizer, (d.text for d in corpus.val))
    held_texts = [d.text for d in load_corpus(args.heldout, val_fraction=0.01).train]
    held_ids = encode_documents(tokenizer, held_texts)
    held_chars = sum(map(len, held_texts))
    print(
        f"tokenized in {time.time() - start:.0f}s: train {train_ids.numel():,} "
        f"val {val_ids.numel():,} held-out {held_ids.numel():,} tokens",
        flush=True,
    )
    card = _data_card(args.corpus, vars(corpus.stats), train_ids.numel(), val_ids.numel())
    card["tokenizer"] = f"{args.tokenizer} ({tokenizer.vocab_size} tokens)"
    device = "cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu"

    for name, minutes in budgets.items():
        out = args.out / name
        model_config = GRUConfig(**{**MODELS[name].to_dict(), "vocab_size": tokenizer.vocab_size})
        train_config = TrainConfig(
            batch_size=args.batch_size,
            window=args.window,
            lr=args.lr,
            warmup_steps=300,
            max_steps=None,
            time_budget_minutes=minutes,
            distill_from=teachers.get(name),
            distill_weight=args.distill_weight,
            eval_every=400,
            eval_windows=40,
            patience=0,  # the budget ends the run; best/ keeps the best-validated weights
            device=args.device,
            save_dtype="float16",
            progress=False,
        )
        metadata: dict[str, Any] = {"data_card": card}
        base = None
        if name in starts:
            start_from = load_base_model(starts[name])
            base, metadata["base_model"] = start_from.checkpoint.model, start_from.record
        teacher = None
        if name in teachers:
            given = teachers[name]
            if given in budgets:  # a model this run trained: the checkpoint it wrote
                given = str(args.out / given)
            loaded = load_teacher(given, tokenizer)
            teacher, metadata["teacher"] = loaded.checkpoint.model, loaded.record
        summary = train(
            train_ids,
            val_ids,
            tokenizer,
            model_config,
            train_config,
            out,
            metadata,
            base_model=base,
            teacher=teacher,
        )
        for which, path in (("final", out), ("best", out / "best")):
            summary[f"heldout_{which}"] = _heldout(path, held_ids, held_chars, device)
        summary["shipped"] = _keep_better(out, summary)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        shown = ("steps", "tokens_seen", "train_seconds", "val", "heldout_final", "heldout_best")
        print(name, json.dumps({k: summary[k] for k in (*shown, "shipped")}, default=str))


if __name__ == "__main__":
    main()
