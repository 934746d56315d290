"""Retraining on a team's code, in-process: which fine-tuning recipe helps held-out files?

For each team codebase (benchmarks/team_codebases.py, fetched first), fine-tunes the bundled
model on the project's training files (the held-out ones are in its .gitignore, which training
respects) with each recipe, on one thread, and scores the first `--tokens` tokens of
`--files` held-out files as the server would: int8 weights, the top layer's outputs as the
neural cache's keys (weight 0.35, as shipped). Per recipe it prints nats per token and
next-token top-1 with the cache, top-1 at the tokens that begin a name, and the training
work (tokens fed, seconds), against the bundled model measured in the same run:

    python benchmarks/retrain_heldout.py --projects toolz,cattrs [--files 8] [--tokens 512]
        [--recipes shipped,lr3e-3,...] [--tokens-budget 60000] [--save-dir DIR]

A recipe is a name from RECIPES, or a checkpoint folder to score as it is (`{project}` in it
stands for the project's folder, e.g. `{project}/retrained`); `--save-dir` keeps each
fine-tuned model as a checkpoint (for the gauge: `grucomplete serve --model
DIR/<project>-<recipe>`). `--general DIR` also scores code of none of the projects, to see
what fine-tuning forgets.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".work" / "team"
CACHE_WEIGHT = 0.35  # neuralCache, as shipped
NAME_START = re.compile(r"^[ \t]*[A-Za-z_]")


@dataclass(frozen=True)
class Recipe:
    lr: float = 1e-3  # peak learning rate (FINETUNE_DEFAULTS)
    params: str = "all"  # "all", "top" (layer 1 + head), "head" (projection + output bias)
    batch: int = 16  # lanes
    window: int = 128  # tokens per TBPTT window
    base_share: float = 0.0  # share of lanes reading the base corpus (the stdlib) instead
    passes: float = 1.0  # over the project's training tokens, bounded by --tokens-budget
    warmup: int = 10
    min_lr_ratio: float = 0.1


RECIPES = {
    "shipped": Recipe(),
    "lr3e-3": Recipe(lr=3e-3),
    "lr3e-4": Recipe(lr=3e-4),
    "short": Recipe(batch=8, window=64),
    "short-lr3e-3": Recipe(lr=3e-3, batch=8, window=64),
    "head": Recipe(lr=3e-3, params="head"),
    "top": Recipe(lr=1e-3, params="top"),
    "top-lr3e-3": Recipe(lr=3e-3, params="top"),
    "mix25": Recipe(base_share=0.25),
    "2pass": Recipe(passes=2.0),
    "2pass-lr3e-3": Recipe(lr=3e-3, passes=2.0),
    "short-2pass-lr3e-3": Recipe(lr=3e-3, batch=8, window=64, passes=2.0),
    "short-4pass-lr3e-3": Recipe(lr=3e-3, batch=8, window=64, passes=4.0),
    "b16w64-2pass-lr3e-3": Recipe(lr=3e-3, batch=16, window=64, passes=2.0),
    "short-2pass-mix25": Recipe(lr=3e-3, batch=8, window=64, passes=2.0, base_share=0.25),
    "2pass-mix25": Recipe(lr=3e-3, passes=2.0, base_share=0.25),
    "3pass-mix25": Recipe(lr=3e-3, passes=3.0, base_share=0.25),
}


def project_files(root: Path) -> list[Path]:
    from grucomplete.training.corpus.corpus import iter_source_files

    return list(iter_source_files(root))  # respects .gitignore: no held-out file


def stream(tokenizer, paths: list[Path], limit: int | None = None) -> torch.Tensor:
    from grucomplete.training.corpus.corpus import read_source
    from grucomplete.training.trainer.data import encode_documents

    texts = [t for t in (read_source(p) for p in paths) if t]
    ids = encode_documents(tokenizer, texts)
    return ids[:limit] if limit else ids


def stdlib_stream(tokenizer, tokens: int) -> torch.Tensor:
    """Base-corpus text every user has: the standard library (part of the default corpus)."""
    import hashlib

    lib = Path(sysconfig.get_paths()["stdlib"])
    paths = [p for p in lib.glob("*.py")]
    paths.sort(key=lambda p: hashlib.sha1(p.name.encode()).digest())
    return stream(tokenizer, paths[:200], tokens)


def heldout_ids(
    tokenizer, root: Path, held: list[str], files: int, tokens: int, skip: int = 0
) -> list[list[int]]:
    """The first `skip` + `tokens` + 1 ids of the first `files` held-out files that have more
    than `skip` + 32 ids."""
    out = []
    for rel in held:
        text = (root / rel).read_text(errors="replace")
        ids = [tokenizer.boundary_id, *tokenizer.encode(text)][: skip + tokens + 1]
        if len(ids) > skip + 32:
            out.append(ids)
        if len(out) == files:
            break
    return out


@torch.inference_mode()
def score(
    model, docs: list[list[int]], name_start: torch.Tensor, skip: int = 0
) -> dict[str, float]:
    """The server's view of held-out text: int8, the neural cache mixed in at every token.

    The first `skip` positions of each document are read but not counted (boltons begins
    every file with the same 30-line licence, which any model trained on it knows by heart)."""
    from grucomplete.model.lm import quantize_for_cpu

    q = quantize_for_cpu(copy.deepcopy(model).float())
    nats = nats_cache = 0.0
    hits = hits_cache = names = name_hits = 0
    count = 0
    for ids in docs:
        tokens = torch.tensor([ids[:-1]])
        targets = torch.tensor(ids[1:])
        out, _ = q.rnn(q.embed(tokens), q.initial_state(1))  # (1, T, H)
        out = out[0].float()
        logprobs = torch.log_softmax(q.head(q.proj(out)).float(), -1)  # (T, V)
        # Neural cache: position t attends to positions i < t, whose successor is ids[i + 1].
        keys = out.half().float()
        scores = keys @ keys.T  # (T, T), THETA 1
        T = len(targets)
        scores.masked_fill_(~torch.ones(T, T, dtype=torch.bool).tril(-1), float("-inf"))
        attention = torch.softmax(scores, -1).nan_to_num_(0.0)  # row 0: nothing before it
        p_cache = torch.zeros(T, logprobs.shape[1]).index_add_(1, targets, attention)  # (T, V)
        has = torch.arange(T) > 0
        w = torch.where(has, CACHE_WEIGHT, 0.0)[:, None]
        mixed = ((1 - w) * logprobs.exp() + w * p_cache).clamp_min(1e-30).log()
        logprobs, mixed, targets = logprobs[skip:], mixed[skip:], targets[skip:]
        nats -= logprobs.gather(1, targets[:, None]).sum().item()
        nats_cache -= mixed.gather(1, targets[:, None]).sum().item()
        hits += (logprobs.argmax(-1) == targets).sum().item()
        right = mixed.argmax(-1) == targets
        hits_cache += right.sum().item()
        is_name = name_start[targets]
        names += is_name.sum().item()
        name_hits += (right & is_name).sum().item()
        count += len(targets)
    return {
        "nats": nats / count,
        "top1": hits / count,
        "nats_cache": nats_cache / count,
        "top1_cache": hits_cache / count,
        "name_top1": name_hits / max(names, 1),
        "positions": count,
    }


def name_starts(tokenizer) -> torch.Tensor:
    """(V,) whether each token begins a name: the positions where a word is being completed."""
    return torch.tensor(
        [bool(NAME_START.match(t.decode("utf-8", "replace"))) for t in tokenizer.token_bytes]
    )


def compare_on_heldout(
    work: Path, models: list[str], files: int, tokens: int, skip: int = 0
) -> dict[str, dict[str, float]]:
    """`score` of each model (a checkpoint folder or "default") on a project's held-out files."""
    from grucomplete.model.checkpoint import load_checkpoint, resolve_model_dir

    held = json.loads((work / "split.json").read_text())["heldout"]
    rows = {}
    for name in models:
        checkpoint = load_checkpoint(resolve_model_dir(name))
        docs = heldout_ids(checkpoint.tokenizer, work / "project", held, files, tokens, skip)
        label = "default" if name == "default" else Path(name).name
        model = checkpoint.model.float()
        rows[label] = score(model, docs, name_starts(checkpoint.tokenizer), skip)
    return rows


def finetune(base, train: torch.Tensor, base_text: torch.Tensor, recipe: Recipe, budget: int):
    """A copy of `base` fine-tuned by `recipe` on `train`; returns it and the work done."""
    from grucomplete.training.trainer.data import WindowBatcher

    model = copy.deepcopy(base).float().train()
    trainable = {
        "all": lambda n: True,
        "top": lambda n: n.startswith(("proj", "head.bias")) or n.endswith("_l1"),
        "head": lambda n: n.startswith(("proj", "head.bias")),
    }[recipe.params]
    for n, p in model.named_parameters():
        p.requires_grad_(trainable(n))
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.01},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=recipe.lr)
    n_base = round(recipe.batch * recipe.base_share)
    n_proj = recipe.batch - n_base
    lanes = WindowBatcher(train, n_proj, recipe.window)
    other = WindowBatcher(base_text, n_base, recipe.window) if n_base else None
    per_step = recipe.batch * recipe.window
    steps = max(1, min(int(recipe.passes * len(lanes)), budget // per_step))
    state = other_state = None
    started = time.process_time()
    for step in range(steps):
        progress = step / steps
        lr = recipe.lr * min(1.0, (step + 1) / recipe.warmup)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        lr *= recipe.min_lr_ratio + (1 - recipe.min_lr_ratio) * cosine
        for g in opt.param_groups:
            g["lr"] = lr
        if lanes.at_epoch_start:
            state = None
        x, y = next(lanes)
        if other is not None:
            if other.at_epoch_start:
                other_state = None
            bx, by = next(other)
            x, y = torch.cat([x, bx]), torch.cat([y, by])
            both = state is not None and other_state is not None
            state = torch.cat([state, other_state], 1) if both else None
        logits, new_state = model(x, state)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        new_state = new_state.detach()
        if other is not None:
            state, other_state = new_state[:, :n_proj], new_state[:, n_proj:]
        else:
            state = new_state
    seconds = time.process_time() - started
    return model.eval(), {"steps": steps, "tokens": steps * per_step, "cpu_s": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    from grucomplete.model.checkpoint import load_checkpoint, resolve_model_dir, save_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", default="toolz,cattrs")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--skip", type=int, default=0, help="read, not count, this many first")
    parser.add_argument("--recipes", default="shipped")
    parser.add_argument("--tokens-budget", type=int, default=60_000)
    parser.add_argument("--save-dir", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--general", type=Path, help="code in none of the projects (forgetting: the bundled "
        "model's own held-out packages, `grucomplete fetch-corpus DIR --heldout`)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    checkpoint = load_checkpoint(resolve_model_dir("default"))
    tokenizer, base = checkpoint.tokenizer, checkpoint.model.float()
    name_start = name_starts(tokenizer)
    base_text = stdlib_stream(tokenizer, 400_000)
    general = []
    if args.general:
        paths = sorted(args.general.rglob("*.py"), key=lambda p: hash_of(p.name))
        general = heldout_ids(
            tokenizer, args.general, [str(p.relative_to(args.general)) for p in paths], 8, 512
        )
    results = {}
    for name in args.projects.split(","):
        work = next(WORK.glob(f"{name}-*"))
        root = work / "project"
        held = json.loads((work / "split.json").read_text())["heldout"]
        train = stream(tokenizer, project_files(root))
        docs = heldout_ids(tokenizer, root, held, args.files, args.tokens, args.skip)
        rows = {"default": {**score(base, docs, name_start, args.skip), "tokens": 0, "cpu_s": 0}}
        if general:
            rows["default"]["general"] = score(base, general, name_start)
        print(f"{name}: {train.numel():,} training tokens; {rows['default']['positions']} "
              f"held-out positions in {len(docs)} files", flush=True)  # fmt: skip
        print(f"  {'recipe':20} {'nats':>6} {'top1':>6} {'nats+c':>7} {'top1+c':>7} "
              f"{'name+c':>7} {'tokens':>8} {'cpu s':>6}"
              + (" general: nats+c top1+c" if general else ""))  # fmt: skip
        line(rows["default"], "default")
        for recipe_name in args.recipes.split(","):
            trained = Path(recipe_name.replace("{project}", str(work)))
            if trained.is_dir():  # a checkpoint trained before, e.g. by team_codebases.py
                saved = load_checkpoint(trained)
                model = saved.model.float()
                work_done = {"tokens": saved.metadata.get("tokens_seen", 0), "cpu_s": "-"}
                recipe_name = trained.name
            else:
                recipe = RECIPES[recipe_name]
                model, work_done = finetune(base, train, base_text, recipe, args.tokens_budget)
            rows[recipe_name] = {**score(model, docs, name_start, args.skip), **work_done}
            if general:
                rows[recipe_name]["general"] = score(model, general, name_start)
            line(rows[recipe_name], recipe_name)
            if args.save_dir:
                out = args.save_dir / f"{name}-{recipe_name}"
                save_checkpoint(out, model, tokenizer, {"recipe": recipe_name}, dtype=torch.float16)
        results[name] = rows
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def line(row: dict, label: str) -> None:
    general = row.get("general")
    forgetting = f" {general['nats_cache']:6.3f} {general['top1_cache']:6.3f}" if general else ""
    print(f"  {label:20} {row['nats']:6.3f} {row['top1']:6.3f} {row['nats_cache']:7.3f} "
          f"{row['top1_cache']:7.3f} {row['name_top1']:7.3f} {row['tokens']:8,} {row['cpu_s']:6}"
          + forgetting, flush=True)  # fmt: skip


def hash_of(text: str) -> bytes:
    import hashlib

    return hashlib.sha1(text.encode()).digest()


if __name__ == "__main__":
    sys.exit(main())
