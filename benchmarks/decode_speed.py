"""Inference speed on this CPU: one model step (batch 1 and batch = beam) and a whole completion.

    python benchmarks/decode_speed.py [--model DIR] [--repeats 200]

Prints medians for fp32 and int8 weights and their ratio, measured in the same run, so the
numbers compare on a noisy shared machine. A "line completion" is what the editor asks for:
heal the prompt, then a 5-beam, 16-token search for the word and for the rest of the line.
Then how far an int8 beam step is from this CPU's limit (weight bytes over the measured
bandwidth, multiply-adds over the measured int8 peak), and reading a whole 512-token window
with the layers one after the other and on a thread each (`model/layer_pipeline.py`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import torch

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.model.completion_settings import CompletionSettings
from grucomplete.model.decoding import DecodeOptions, StopAt, decode
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.lm import GRUConfig
from grucomplete.model.machine_fit import median_ms as fit_median_ms
from grucomplete.model.session import complete_once

# A cold completion of five words and five lines by the model alone.
MODEL_ONLY = CompletionSettings(
    num_candidates=5, line_candidates=5, identifier_cache=0.0, neural_cache=0.0
)


PROMPT = '''import os
import sys


def find_sources(root):
    """Yield the Python files under root."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.endswith(".py"):
                yield os.path.'''


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    return fit_median_ms(fn, repeats, warmup=max(3, repeats // 10))


def measure(engine: CompletionEngine, beam: int, repeats: int) -> dict[str, float]:
    model = engine.model
    healed = engine.heal(PROMPT)
    logits, state = engine.prompt_state(engine.prompt_ids(healed.context))
    one = torch.tensor([[engine.tokenizer.encode(" x")[0]]])
    many = one.expand(beam, 1).contiguous()
    state_many = (
        state.expand(-1, beam, -1).contiguous()
        if not isinstance(state, tuple)
        else (
            state[0].expand(-1, beam, -1).contiguous(),
            state[1].expand(-1, beam, -1).contiguous(),
        )
    )
    options = DecodeOptions(beam_width=beam, max_tokens=16, length_penalty=1.0)

    def line() -> object:
        # length_penalty != 0 turns off early stopping: always the full 16 steps.
        return decode(model, state, logits, engine.index, healed.removed, StopAt.LINE, options)

    return {
        "step_b1_ms": median_ms(lambda: model.step(one, state), repeats),
        f"step_b{beam}_ms": median_ms(lambda: model.step(many, state_many), repeats),
        "line_16_tokens_ms": median_ms(line, max(10, repeats // 10)),
        "complete_ms": median_ms(
            lambda: complete_once(engine, PROMPT, MODEL_ONLY), max(10, repeats // 10)
        ),
    }


def cache_bandwidth(nbytes: int, repeats: int) -> float:
    """GB/s summing a buffer of `nbytes` (in cache when it fits, as the weights do)."""
    buffer = torch.ones(nbytes // 4)
    return nbytes / median_ms(buffer.sum, max(10, repeats // 10)) / 1e6


def window_reading(model_dir: str, repeats: int) -> None:
    """A full window read (a file opened, a jump), and its limit: every token reads each
    layer's int8 weights once, one layer after the other, or each layer on its own core."""
    times = {}
    for threads in (False, True):
        engine = CompletionEngine(load_checkpoint(model_dir), "int8", layer_threads=threads)
        ids = engine.prompt_ids(PROMPT * 40)
        times[threads] = median_ms(partial(engine.prompt_state, ids), max(5, repeats // 20))
    config = load_checkpoint(model_dir).model.config
    gates = 3 if config.cell == "gru" else 4
    h = config.hidden_size
    layers = [
        gates * h * ((config.embed_dim if i == 0 else h) + h) for i in range(config.num_layers)
    ]
    bandwidth = cache_bandwidth(sum(layers), repeats)
    one, each = len(ids) * sum(layers), len(ids) * max(layers)
    print(f"\nreading a {len(ids)}-token window (int8):")
    print(
        f"  one thread: {times[False]:.1f} ms (limit {one / bandwidth / 1e6:.1f} ms); a thread "
        f"per layer: {times[True]:.1f} ms (limit {each / bandwidth / 1e6:.1f} ms): "
        f"{times[False] / times[True]:.2f}x faster"
    )


def physical_limits(config: GRUConfig, step_ms: float, beam: int, repeats: int) -> None:
    """How close an int8 beam step is to what this CPU can do: bytes over bandwidth, ops over peak.

    A step reads every weight once (int8: one byte each) and does one multiply-add per weight
    and beam row. Bandwidth is measured by summing a buffer the size of the weights (it stays
    in cache, as the weights do between steps) and one far larger than any cache; the int8
    peak by a quantized matrix product big enough to be compute-bound.
    """
    e, h, v = config.embed_dim, config.hidden_size, config.vocab_size
    gates = 3 if config.cell == "gru" else 4
    weights = gates * h * (e + h) + (config.num_layers - 1) * gates * h * 2 * h + h * e + v * e
    ops = 2 * weights * beam  # one multiply-add per weight and beam row

    in_cache, in_memory = cache_bandwidth(weights, repeats), cache_bandwidth(1 << 30, repeats)
    big = torch.ao.nn.quantized.dynamic.Linear(h, gates * h)
    x = torch.randn(512, h)
    peak_gops = 2 * 512 * h * gates * h / median_ms(lambda: big(x), max(10, repeats // 10)) / 1e6
    floor_ms = max(weights / in_cache / 1e6, ops / peak_gops / 1e6)
    print(f"\nphysical limit of an int8 {beam}-beam step ({weights / 1e6:.1f} MB of weights):")
    print(
        f"  bandwidth summing {weights / 1e6:.0f} MB (cache): {in_cache:.0f} GB/s; 1 GB: "
        f"{in_memory:.0f} GB/s"
    )
    print(f"  int8 matrix product: {peak_gops:.0f} GOP/s")
    print(
        f"  weights / cache bandwidth: {weights / in_cache / 1e6:.3f} ms; "
        f"ops / peak: {ops / peak_gops / 1e6:.3f} ms"
    )
    print(
        f"  measured step: {step_ms:.3f} ms = {step_ms / floor_ms:.1f}x the limit "
        f"({floor_ms:.3f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="checkpoint directory")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="as the server runs (serve)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    checkpoint = load_checkpoint(args.model)
    params = checkpoint.model.num_parameters()
    print(
        f"model: {checkpoint.path} ({params / 1e6:.1f}M parameters, "
        f"{checkpoint.model.config}), torch threads: {torch.get_num_threads()}"
    )
    results = {}
    for precision in ("fp32", "int8"):
        # One thread for both, as in the step they are compared on.
        engine = CompletionEngine(load_checkpoint(args.model), precision, layer_threads=False)
        results[precision] = measure(engine, args.beam, args.repeats)
    print(f"{'median':<20}{'fp32':>10}{'int8':>10}{'fp32/int8':>11}")
    for key in results["fp32"]:
        a, b = results["fp32"][key], results["int8"][key]
        print(f"{key:<20}{a:>10.3f}{b:>10.3f}{a / b:>10.1f}x")
    step = results["int8"][f"step_b{args.beam}_ms"]
    physical_limits(checkpoint.model.config, step, args.beam, args.repeats)
    window_reading(args.model, args.repeats)


if __name__ == "__main__":
    main()
