"""Long prompts read with a thread per layer compute exactly what one stacked module computes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from grucomplete.model.checkpoint import Checkpoint
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.layer_pipeline import LayerStack, worth_threads
from grucomplete.model.lm import GRUConfig, GRULanguageModel
from grucomplete.model.session import DocumentSession
from grucomplete.model.tokenizer import CodeTokenizer
from grucomplete.model.window import CHUNK

from .conftest import TOY_SOURCES

TEXT = "\n".join(TOY_SOURCES * 4)  # several chunks of tokens


def engines(
    tokenizer: CodeTokenizer, cell: str, precision: str
) -> tuple[CompletionEngine, CompletionEngine]:
    """The same random 3-layer model, split into layers fed on threads, and stacked."""
    config = GRUConfig(tokenizer.vocab_size, embed_dim=16, hidden_size=24, num_layers=3, cell=cell)
    torch.manual_seed(0)
    weights = GRULanguageModel(config).state_dict()
    made = []
    for threads in (True, False):
        model = GRULanguageModel(config)
        model.load_state_dict(weights)
        made.append(CompletionEngine(Checkpoint(model, tokenizer), precision, 256, threads))
    return made[0], made[1]


def _tensors(state: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_threaded_layers_compute_what_one_thread_and_the_stacked_module_compute(
    toy_tokenizer: CodeTokenizer, cell: str, precision: str
) -> None:
    threaded, stacked = engines(toy_tokenizer, cell, precision)
    assert isinstance(threaded.model.rnn, LayerStack) and threaded.pipeline is not None
    assert stacked.pipeline is None
    ids = stacked.prompt_ids(TEXT)
    assert len(ids) > 3 * CHUNK
    runs, pipeline = [], threaded.pipeline
    for engine, threads in ((threaded, pipeline), (threaded, None), (stacked, None)):
        engine.pipeline, outputs = threads, []  # None: the same layers, chunk by chunk
        logits, state = engine.prompt_state(ids, outputs)
        runs.append((logits, *_tensors(state), torch.cat(outputs)))
    threaded.pipeline = pipeline
    # Threads or not, and split or stacked, the same bits: the server's cached states equal
    # a cold read however either was fed.
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1], strict=True))
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[2], strict=True))
    # A decoding step through the split layers, batched, agrees as well.
    state = (runs[0][1], runs[0][2]) if cell == "lstm" else runs[0][1]
    batch = tuple(s.expand(-1, 2, -1) for s in _tensors(state))
    batch = batch if cell == "lstm" else batch[0]
    tokens = torch.tensor([[ids[-1]], [ids[-2]]])
    step, expected = threaded.model.step(tokens, batch)[0], stacked.model.step(tokens, batch)[0]
    assert torch.equal(step, expected)


def test_a_typed_document_on_threaded_layers_matches_a_cold_stacked_read(
    toy_tokenizer: CodeTokenizer,
) -> None:
    threaded, stacked = engines(toy_tokenizer, "gru", "int8")
    session = DocumentSession(threaded, keep_outputs=True)
    for end in range(40, len(TEXT), 97):  # typing, then a jump back up the file
        session.prompt(TEXT[:end])
    for end in (len(TEXT), len(TEXT) // 2):
        cached = session.prompt(TEXT[:end])
        outputs: list[torch.Tensor] = []
        logits, state = stacked.prompt_state(stacked.prompt_ids(TEXT[:end]), outputs)
        assert torch.equal(cached.logits, logits) and torch.equal(cached.state, state)
        assert cached.outputs is not None
        assert torch.equal(
            cached.outputs.float(), torch.cat(outputs).to(cached.outputs.dtype).float()
        )


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_a_process_kept_to_one_core_reads_on_one_thread() -> None:
    check = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from grucomplete.model.layer_pipeline import worth_threads; print(worth_threads())"
    )
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"  # what `taskset -c 0 grucomplete serve` gets
    assert worth_threads()
