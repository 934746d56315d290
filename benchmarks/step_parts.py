"""Where a beam step's model time goes on this CPU, part by part, with 1 and 2 torch threads.

    python benchmarks/step_parts.py [--model default] [--beams 5] [--repeats 300]

Each recurrent layer is timed called for one token (a beam step: both of its int8 products
and its gates, in one call) and per token of a 16- and a 64-token read (a prompt: the input
product batched over the chunk); then the projection, the tied output layer and the whole
step. Medians in ms. A layer's one-token call against its per-token cost in a read shows what
a call costs beyond its products; the thread columns, what a second core could give each part
(decoding as a whole is measured with `decode_time.py --threads`).
"""

from __future__ import annotations

import argparse

import torch

from grucomplete.model.checkpoint import load_checkpoint, resolve_model_dir
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.layer_pipeline import LayerStack
from grucomplete.model.machine_fit import median_ms


def parts(engine: CompletionEngine, beams: int, repeats: int) -> dict[str, float]:
    """Each part's median ms with the current number of torch threads."""
    model = engine.model
    # A model of one layer is not split: its recurrent module is that layer.
    layers = list(model.rnn.layers) if isinstance(model.rnn, LayerStack) else [model.rnn]
    hidden, vocab = model.config.hidden_size, model.config.vocab_size
    state = model.initial_state(beams)
    tokens = torch.randint(0, vocab, (beams, 1))
    found: dict[str, float] = {}
    with torch.inference_mode():
        below = model.embed(tokens)
        for index, layer in enumerate(layers):
            layer_state = state[index : index + 1]
            found[f"layer {index}, one token"] = median_ms(
                lambda: layer(below, layer_state),  # noqa: B023
                repeats,
            )
            for length in (16, 64):
                inputs = torch.randn(1, length, below.shape[-1])
                one = state[index : index + 1, :1]
                total = median_ms(lambda: layer(inputs, one), max(repeats // 10, 5))  # noqa: B023
                found[f"layer {index}, a token of {length}"] = total / length
            below = torch.randn(beams, 1, hidden)
        outputs = torch.randn(beams, hidden)
        projected = model.proj(outputs)
        found["projection"] = median_ms(lambda: model.proj(outputs), repeats)
        found["output layer"] = median_ms(lambda: model.head(projected), repeats)
        found["whole step"] = median_ms(lambda: model.step(tokens, state), repeats)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="a model directory, or 'default'")
    parser.add_argument("--beams", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args(argv)
    checkpoint = load_checkpoint(resolve_model_dir(args.model))
    engine = CompletionEngine(checkpoint, "int8", layer_threads=True)
    columns = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        columns[threads] = parts(engine, args.beams, args.repeats)
    print(f"part ({args.beams} beams) | 1 thread ms | 2 threads ms")
    for name, one in columns[1].items():
        print(f"{name} | {one:.3f} | {columns[2][name]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
