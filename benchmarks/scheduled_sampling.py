"""Does scheduled sampling help? Two models trained alike, with and without it.

    # 1. train both for the same time on the same sample (a GPU)
    python benchmarks/scheduled_sampling.py CORPUS HELDOUT TOKENIZER OUT --seconds 35
    # 2. what a user sees: words and whole lines on held-out files (CPU)
    grucomplete eval HELDOUT --model OUT/ss-0 --compare OUT/ss-25 --max-files 40 --seed 1

Teacher-forced held-out bits per character can only get worse with scheduled sampling (the
model trains on inputs it is not scored on); the question is whether lines decoded from the
model's own guesses get better, so step 2 measures line edit similarity beside the words.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grucomplete.model.checkpoint import CONFIG_FILE, bundled_model_dir
from grucomplete.model.lm import GRUConfig
from grucomplete.model.tokenizer import CodeTokenizer
from grucomplete.training.corpus.corpus import sample_texts
from grucomplete.training.trainer.config import TrainConfig
from grucomplete.training.trainer.data import encode_documents
from grucomplete.training.trainer.trainer import train

# The bundled fast model's shape, as its checkpoint records it.
MODEL = GRUConfig.from_dict(
    json.loads((bundled_model_dir("fast") / CONFIG_FILE).read_text(encoding="utf-8"))["model"]
)


def run(args: argparse.Namespace) -> None:
    tokenizer = CodeTokenizer.load(args.tokenizer)
    train_ids = encode_documents(tokenizer, sample_texts(args.corpus, args.sample_chars))
    held_ids = encode_documents(tokenizer, sample_texts(args.heldout))
    config = GRUConfig(**{**MODEL.to_dict(), "vocab_size": tokenizer.vocab_size})
    results = {}
    for probability in (0.0, args.probability):
        name = f"ss-{round(probability * 100)}"
        summary = train(
            train_ids,
            held_ids,  # validation on held-out code: the number this experiment reports
            tokenizer,
            config,
            TrainConfig(
                max_steps=None,
                time_budget_minutes=args.seconds / 60,
                batch_size=args.batch_size,
                window=256,
                lr=6e-3,
                warmup_steps=100,
                eval_every=10**9,
                patience=0,
                scheduled_sampling=probability,
                device=args.device,
                save_dtype="float16",
                progress=False,
            ),
            args.out / name,
            {"experiment": "scheduled_sampling", "probability": probability},
        )
        results[name] = {
            "scheduled_sampling": probability,
            "heldout_bits_per_char": summary["val"]["bits_per_char"],
            "steps": summary["steps"],
            "train_tokens_seen": summary["tokens_seen"],
        }
        print(name, json.dumps(results[name]), flush=True)
    (args.out / "scheduled_sampling.json").write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("heldout", type=Path)
    parser.add_argument("tokenizer", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=35.0)
    parser.add_argument("--probability", type=float, default=0.25)
    parser.add_argument("--sample-chars", type=int, default=80_000_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--device", default="auto")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
