"""What a model costs on this CPU beside another: an int8 beam step and a window read.

    python benchmarks/model_cost.py default fast [.work/old-default ...]

The first model is the reference: each row gives its medians and their ratio to it. The
models take turns within each round, so a shared machine's drift falls on all alike. These
are the two costs the machine fit predicts latency from (model/machine_fit.py): a keystroke
is mostly beam steps, a jump mostly the window read.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.model.engine import CompletionEngine


def _step_ms(engine: CompletionEngine, beams: int, steps: int) -> float:
    model = engine.model
    state = model.initial_state(beams)
    tokens = torch.randint(0, model.config.vocab_size, (beams, 1))
    model.step(tokens, state)  # warm
    start = time.perf_counter()
    for _ in range(steps):
        model.step(tokens, state)
    return (time.perf_counter() - start) / steps * 1e3


def _read_ms(engine: CompletionEngine, length: int) -> float:
    model = engine.model
    tokens = torch.randint(0, model.config.vocab_size, (1, length))
    start = time.perf_counter()
    model.read(tokens, model.initial_state(1))
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="checkpoint directories or bundled names")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--window", type=int, default=463, help="tokens read (decode_speed's)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the server decodes

    checkpoints = {m: load_checkpoint(m) for m in args.models}
    params = {m: c.model.num_parameters() for m, c in checkpoints.items()}  # before quantizing
    engines = {m: CompletionEngine(c, "int8", layer_threads=False) for m, c in checkpoints.items()}
    steps: dict[str, list[float]] = {m: [] for m in args.models}
    reads: dict[str, list[float]] = {m: [] for m in args.models}
    with torch.inference_mode():
        for _ in range(args.rounds):
            for name, engine in engines.items():
                steps[name].append(_step_ms(engine, args.beam, 20))
                reads[name].append(_read_ms(engine, args.window))
    reference = args.models[0]
    step0, read0 = statistics.median(steps[reference]), statistics.median(reads[reference])
    print(
        f"{'model':<28}{'params':>8}{f'{args.beam}-beam step':>16}{f'{args.window}-token read':>22}"
    )
    for name in engines:
        step, read = statistics.median(steps[name]), statistics.median(reads[name])
        print(
            f"{name:<28}{params[name] / 1e6:>7.1f}M{step:>9.3f} ms {step / step0:4.2f}x"
            f"{read:>14.1f} ms {read / read0:4.2f}x"
        )


if __name__ == "__main__":
    main()
