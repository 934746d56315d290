"""How the bundled default model is trained: the manifest corpus, a fixed tokenizer, one GPU run.

    grucomplete fetch-corpus .work/corpus && grucomplete fetch-corpus .work/heldout --heldout
    python examples/train_default_model.py .work/corpus .work/heldout TOKENIZER.json OUT \\
        --minutes 3.5 --device cuda

The tokenizer is fitted beforehand (benchmarks/tokenizer_choice.py fit), so the GPU time goes
to training. Held-out bits per character are measured on packages not in the corpus.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from grucomplete.model.lm import GRUConfig
from grucomplete.model.tokenizer import CodeTokenizer
from grucomplete.training.corpus.corpus import load_corpus
from grucomplete.training.trainer.config import TrainConfig
from grucomplete.training.trainer.data import encode_documents
from grucomplete.training.trainer.trainer import train
from grucomplete.training.trainer.validation import evaluate, validation_batcher


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus", type=Path)
    p.add_argument("heldout", type=Path)
    p.add_argument("tokenizer", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--minutes", type=float, default=3.5)
    p.add_argument("--device", default="auto")
    p.add_argument("--hidden-size", type=int, default=768)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--max-files", type=int, default=None)
    args = p.parse_args()

    start = time.time()
    tokenizer = CodeTokenizer.load(args.tokenizer)
    corpus = load_corpus(args.corpus, val_fraction=0.01, max_files=args.max_files)
    train_ids = encode_documents(tokenizer, (d.text for d in corpus.train))
    val_ids = encode_documents(tokenizer, (d.text for d in corpus.val))
    held_texts = [d.text for d in load_corpus(args.heldout, val_fraction=0.01).train]
    held_ids = encode_documents(tokenizer, held_texts)
    print(
        f"tokenized in {time.time() - start:.0f}s: train {train_ids.numel():,} "
        f"val {val_ids.numel():,} held-out {held_ids.numel():,} tokens",
        flush=True,
    )

    card = {
        "corpus": str(args.corpus.name),
        "stats": vars(corpus.stats),
        "train_tokens": train_ids.numel(),
        "val_tokens": val_ids.numel(),
    }
    try:
        from grucomplete.training.corpus.manifest import data_card, load_manifest

        card["sources"] = data_card(args.corpus, load_manifest())
    except Exception as e:  # the card is documentation: never lose a training run over it
        card["sources_error"] = repr(e)
    model_config = GRUConfig(vocab_size=tokenizer.vocab_size, hidden_size=args.hidden_size)
    train_config = TrainConfig(
        batch_size=args.batch_size,
        window=args.window,
        lr=args.lr,
        warmup_steps=200,
        max_steps=None,
        time_budget_minutes=args.minutes,
        eval_every=400,
        eval_windows=40,
        device=args.device,
        save_dtype="float16",
        progress=False,
    )
    summary = train(
        train_ids, val_ids, tokenizer, model_config, train_config, args.out, {"data_card": card}
    )
    from grucomplete.model.checkpoint import load_checkpoint

    for name in ("final", "best"):
        path = args.out if name == "final" else args.out / "best"
        model = load_checkpoint(path).model
        held = evaluate(model, validation_batcher(held_ids, 32, 256), sum(map(len, held_texts)))
        summary[f"heldout_{name}"] = held.to_dict()
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps({k: summary[k] for k in summary if k != "best_val"}, default=str, indent=1))


if __name__ == "__main__":
    main()
