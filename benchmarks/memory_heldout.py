"""Held-out next-token loss and top-1 with the workspace memory (issue 17's fast check).

For each team codebase (benchmarks/team_codebases.py, fetched first), the memory holds the
project's files except every held-out one; the first `--tokens` tokens of `--files` held-out
files are scored by the model with the neural cache (the default), then with the memory mixed
in at each `--weights`, one search per position (decoding's first step):

    python benchmarks/memory_heldout.py --projects toolz,cattrs [--files 4] [--tokens 300]
        [--weights 0.2,0.35,0.7]

prints nats per token and next-token top-1 per project and configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".work" / "team"


def main(argv: list[str] | None = None) -> int:
    from grucomplete.model.checkpoint import resolve_model_dir
    from grucomplete.model.engine import CompletionEngine
    from grucomplete.model.memory_builder import MemoryBuilder
    from grucomplete.model.neural_cache import NeuralCache
    from grucomplete.model.workspace_memory import WorkspaceMemory

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", default="toolz,cattrs")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--weights", default="0.2,0.35,0.7")
    parser.add_argument("--store", default="/tmp/grucomplete-memory-heldout")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    weights = [float(w) for w in args.weights.split(",")]
    engine = CompletionEngine.load()
    for name in args.projects.split(","):
        base = next(WORK.glob(f"{name}-*"))
        root = base / "project"
        held = json.loads((base / "split.json").read_text())["heldout"]
        memory = WorkspaceMemory()
        for rel in held:
            memory.mask(os.path.realpath(root / rel))
        store = Path(args.store) / name
        MemoryBuilder(root, resolve_model_dir("default"), memory, directory=store).sync()
        labels = ["default", *(f"memory {w}" for w in weights)]
        nats = dict.fromkeys(labels, 0.0)
        hits = dict.fromkeys(labels, 0)
        count = 0
        for rel in held[: args.files]:
            path = os.path.realpath(root / rel)
            ids = engine.prompt_ids((root / rel).read_text(errors="replace"))[: args.tokens + 1]
            outputs: list[torch.Tensor] = []
            engine.prompt_state(ids, outputs)
            out = torch.cat(outputs).float()
            with torch.inference_mode():
                logprobs = torch.log_softmax(engine.model.head(engine.model.proj(out)), -1)
            for t in range(2, len(ids) - 1):
                cache = NeuralCache(out[: t + 1], ids[: t + 1], 0.35)
                logits = cache.mix(logprobs[t : t + 1].clone(), out[t : t + 1])
                target, count = ids[t + 1], count + 1
                for label in labels:
                    mixed = logits
                    if label != "default":
                        found = memory.retrieve(out[t], path, float(label.split()[1]))
                        if found is not None:
                            mixed = found.mix(logits.clone(), out[t : t + 1])
                    nats[label] -= torch.log_softmax(mixed, -1)[0, target].item()
                    hits[label] += int(mixed.argmax().item() == target)
        size = memory.size()
        print(f"{name}: {size['files']} files, {size['entries']} entries; {count} positions")
        for label in labels:
            loss, top1 = nats[label] / count, hits[label] / count
            print(f"  {label:12} nats/token {loss:.3f}  top-1 {top1:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
