"""Kernels for the int8 beam step and the window read on this CPU, side by side.

    python benchmarks/kernels.py [--model DIR] [--corpus DIR] [--repeats 100]

For each way of running the model (PyTorch's quantized engines for the dynamic int8 GRU and
Linear layers, fp16 weights, float32, bfloat16) it prints the median of a 5-beam step and of
reading a 512-token window, as ratios to today's int8 engine measured in the same run, and how
often the next-token ranking at held-out positions agrees with it (top-1 equal, top-5 overlap).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.lm import quantize_for_cpu
from grucomplete.model.machine_fit import median_ms as fit_median_ms

DEFAULT_ENGINE = torch.backends.quantized.engine
PROMPT = "import os\n\n\ndef walk(root):\n    for dirpath, names, files in os.walk(root):\n"


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    return fit_median_ms(fn, repeats, warmup=max(2, repeats // 10))


def variant(model_dir: str, kind: str) -> CompletionEngine | None:
    """An engine whose model runs as `kind`; None where this build of torch cannot."""
    checkpoint = load_checkpoint(model_dir)
    if kind.startswith("int8-"):
        engine_name = kind.removeprefix("int8-")
        if engine_name not in torch.backends.quantized.supported_engines:
            return None
        torch.backends.quantized.engine = engine_name
        engine = CompletionEngine(checkpoint, "fp32", layer_threads=False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                engine.model = quantize_for_cpu(copy.deepcopy(engine.model))
                engine.prompt_state(engine.prompt_ids(PROMPT))
        except RuntimeError as e:
            print(f"  {kind}: not available ({str(e).splitlines()[0][:80]})")
            return None
        return engine
    engine = CompletionEngine(checkpoint, "fp32", layer_threads=False)
    if kind == "fp16-weights":  # FBGEMM's dynamic fp16 GRU and Linear: fp16 weights, fp32 math
        from torch.ao.quantization import quantize_dynamic

        torch.backends.quantized.engine = DEFAULT_ENGINE  # an int8 variant may have changed it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine.model = quantize_dynamic(
                engine.model, {nn.GRU, nn.LSTM, nn.Linear}, dtype=torch.float16
            )
        return engine
    if kind == "bf16":
        model = engine.model.to(torch.bfloat16)
        fp32_initial = model.initial_state
        model.initial_state = lambda *a: fp32_initial(*a).to(torch.bfloat16)
    return engine


def held_out_prompts(corpus: Path | None, count: int) -> list[str]:
    files = sorted(corpus.rglob("*.py"))[:40] if corpus else []
    texts = [f.read_text(errors="replace") for f in files]
    texts = [t for t in texts if len(t) > 3000] or [PROMPT * 60]
    prompts = []
    for i in range(count):
        text = texts[i % len(texts)]
        cut = 1500 + (i * 7919) % (len(text) - 1500)
        prompts.append(text[:cut])
    return prompts


def rankings(engine: CompletionEngine, prompts: list[str]) -> list[list[int]]:
    out = []
    for prompt in prompts:
        ids = engine.prompt_ids(engine.heal(prompt).context)
        logits, _ = engine.prompt_state(ids)
        out.append(logits[0].float().topk(5).indices.tolist())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--corpus", type=Path, help="held-out .py files for the ranking check")
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--positions", type=int, default=40)
    parser.add_argument("--beam", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    kinds = ["int8-" + torch.backends.quantized.engine, "int8-fbgemm", "int8-onednn"]
    kinds += ["int8-qnnpack", "fp16-weights", "fp32", "bf16"]
    kinds = list(dict.fromkeys(kinds))
    prompts = held_out_prompts(args.corpus, args.positions)
    print(f"cpu capability {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}")
    rows = {}
    reference = None
    for kind in kinds:
        engine = variant(args.model, kind)
        if engine is None:
            continue
        model = engine.model
        ids = engine.prompt_ids(PROMPT * 60)[:513]
        _, state = engine.prompt_state(ids[:64])
        beams = torch.full((args.beam, 1), ids[5])
        states = state.expand(-1, args.beam, -1).contiguous()
        step = median_ms(lambda: model.step(beams, states), args.repeats)  # noqa: B023
        read = median_ms(lambda: engine.prompt_state(ids), max(5, args.repeats // 20))  # noqa: B023
        ranks = rankings(engine, prompts)
        if reference is None:
            reference = ranks
        top1 = sum(a[0] == b[0] for a, b in zip(ranks, reference, strict=True)) / len(ranks)
        top5 = statistics.mean(
            len(set(a) & set(b)) / 5 for a, b in zip(ranks, reference, strict=True)
        )
        rows[kind] = (step, read, top1, top5)
    base_step, base_read = next(iter(rows.values()))[:2]
    print(
        f"{'kernel':<14}{'beam step ms':>13}{'ratio':>7}{'512-tok read ms':>17}{'ratio':>7}"
        f"{'top1 agree':>12}{'top5 overlap':>14}"
    )
    for kind, (step, read, top1, top5) in rows.items():
        print(
            f"{kind:<14}{step:>13.3f}{step / base_step:>7.2f}{read:>17.1f}{read / base_read:>7.2f}"
            f"{top1:>12.2f}{top5:>14.2f}"
        )


if __name__ == "__main__":
    main()
