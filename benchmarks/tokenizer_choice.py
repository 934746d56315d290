"""Which pre-tokenizer and vocabulary size: characters per token, then held-out bits per character.

    # 1. fit the candidate tokenizers on the training corpus; chars/token on held-out code (CPU)
    python benchmarks/tokenizer_choice.py fit CORPUS HELDOUT OUT_DIR
    # 2. train one model per tokenizer for the same time; held-out bits/char (best on a GPU)
    python benchmarks/tokenizer_choice.py compare CORPUS HELDOUT OUT_DIR --seconds 40

Bits per character are comparable across tokenizers (a token count is not): a tokenizer that
makes more, shorter tokens is only better if the model predicts the characters better.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from grucomplete.model.lm import GRUConfig
from grucomplete.model.tokenizer import GPT2_PATTERN, PYTHON_PATTERN, CodeTokenizer, train_tokenizer
from grucomplete.training.corpus.corpus import sample_texts
from grucomplete.training.trainer.config import TrainConfig
from grucomplete.training.trainer.data import encode_documents
from grucomplete.training.trainer.trainer import train

CANDIDATES = {
    "python-8k": (PYTHON_PATTERN, 8192),
    "python-16k": (PYTHON_PATTERN, 16384),
    "gpt2-8k": (GPT2_PATTERN, 8192),
}


def fit(corpus: Path, heldout: Path, out: Path, sample_chars: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    sample = sample_texts(corpus, sample_chars)
    held = sample_texts(heldout)
    held_chars = sum(map(len, held))
    print(f"fitting on {sum(map(len, sample)) / 1e6:.1f}M chars; held-out {held_chars / 1e6:.1f}M")
    for name, (pattern, size) in CANDIDATES.items():
        start = time.perf_counter()
        tokenizer = train_tokenizer(iter(sample), size, pattern)
        tokenizer.save(out / f"{name}.json")
        tokens = sum(len(ids) for ids in tokenizer.encode_batch(held))
        print(
            f"{name:<12} chars/token {held_chars / tokens:5.2f}  "
            f"(fit {time.perf_counter() - start:.0f}s)"
        )


def compare(
    corpus: Path, heldout: Path, out: Path, seconds: float, model: GRUConfig, sample_chars: int
) -> None:
    train_docs, held = sample_texts(corpus, sample_chars), sample_texts(heldout)
    results = {}
    for name in CANDIDATES:
        tokenizer = CodeTokenizer.load(out / f"{name}.json")
        train_ids = encode_documents(tokenizer, train_docs)
        held_ids = encode_documents(tokenizer, held)
        config = GRUConfig(**{**model.to_dict(), "vocab_size": tokenizer.vocab_size})
        summary = train(
            train_ids,
            held_ids,
            tokenizer,
            config,
            TrainConfig(
                max_steps=None,
                time_budget_minutes=seconds / 60,
                batch_size=256,
                eval_every=10**9,
                progress=False,
            ),
            out / f"model-{name}",
            {"experiment": "tokenizer_choice"},
        )
        results[name] = {
            "chars_per_token": sum(map(len, held)) / held_ids.numel(),
            "heldout_bits_per_char": summary["val"]["bits_per_char"],
            "train_tokens_seen": summary["tokens_seen"],
        }
        print(name, json.dumps(results[name]), flush=True)
    (out / "tokenizer_choice.json").write_text(json.dumps(results, indent=2))
    best = min(
        (n for n in results if n.startswith("python")),
        key=lambda n: results[n]["heldout_bits_per_char"],
    )
    print(f"best python tokenizer: {best}")
    (out / "best").write_text(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("fit", "compare"))
    parser.add_argument("corpus", type=Path)
    parser.add_argument("heldout", type=Path)
    parser.add_argument("out", type=Path)
    # fit: the sample the tokenizers are fitted on; compare: the sample the models train on
    parser.add_argument("--sample-chars", type=int, default=40_000_000)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--hidden-size", type=int, default=768)
    args = parser.parse_args()
    if args.step == "fit":
        fit(args.corpus, args.heldout, args.out, args.sample_chars)
    else:
        compare(
            args.corpus,
            args.heldout,
            args.out,
            args.seconds,
            GRUConfig(hidden_size=args.hidden_size),
            args.sample_chars,
        )


if __name__ == "__main__":
    main()
