"""Context levers measured in-process on the gauge's positions: neural cache, longer windows.

    python benchmarks/context_levers.py --seed 2 --theta 0.3 1 --lam 0.1 0.35   # tune
    python benchmarks/context_levers.py --seed 1 --theta 1 --lam 0.35 --context 512 1024  # report

Takes the shared gauge's query positions (`lsp_eval.select_files` / `sample_queries`), feeds the
bundled model the window before each cursor (as the server does, CHUNK-aligned), and scores the
word list as the gauge scores it (hit = a suggested word equals the expected identifier;
member/ident top-1, top-5, MRR@10) and the best line's edit similarity on line positions.

The neural cache (Grave et al. 2017): for each position i of the fed window keep the model's
top-layer output h_i and the token that followed it, x_{i+1}; at every beam step mix
p = (1 - lam) p_model + lam p_cache with p_cache(w) proportional to
sum_i [x_{i+1} = w] exp(theta * h_t . h_i). Rows compare against a reference measured in the
same run (identifier cache 0.85 and model only, at each context length). The product's
`model/neural_cache.py` is the configuration this chose (raw outputs, theta 1, every step); the
stepper here keeps the knobs it was chosen with (key kind, theta, steps mixed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from grucomplete.model.decode_options import DecodeOptions, StopAt
from grucomplete.model.decoding import decode_together
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.identifier_cache import cache_distribution, mix
from grucomplete.model.lm import State
from grucomplete.model.window import CHUNK

# The shared gauge sits beside the checkout (../shared/gauge).
GAUGE = Path(__file__).resolve().parents[2] / "shared" / "gauge"
CORPUS = Path(__file__).resolve().parents[1] / ".work" / "heldout"


def feed(engine: CompletionEngine, ids: list[int]) -> tuple[torch.Tensor, State, torch.Tensor]:
    """Logits (1, V), state and top-layer outputs (T, H) after `ids`, fed CHUNK-aligned."""
    model = engine.model
    state = model.initial_state(1, engine.device)
    outs = []
    with torch.inference_mode():
        for start in range(0, len(ids), CHUNK):
            tokens = torch.tensor([ids[start : start + CHUNK]])
            out, state = model.rnn(model.embed(tokens), state)  # (1, t, H)
            outs.append(out[0])
        outputs = torch.cat(outs)  # (T, H)
        logits = model.head(model.proj(outputs[-1:]))  # (1, V)
    return logits, state, outputs


@dataclass
class CacheConfig:
    theta: float  # sharpness of the similarity kernel
    lam: float  # weight of the cache distribution
    key: str = "h"  # "h": top-layer output; "cos": the same, unit length; "p": projected (E)
    steps: int = 0  # mix into this many decoding steps, the prompt's included (0: all)
    skip_line: bool = False  # leave out the keys of the line being typed
    gate: bool = False  # scale lam by 1 - the model's top probability, per step and beam
    # Similarities in bfloat16: same rankings, and a fixed-shape product is 2.6x faster on
    # AVX512-BF16, but oneDNN builds a kernel per new shape and the window grows every keystroke
    # (0.75 ms per product against 0.14 in float32 when the length varies), so not in the product.
    bf16: bool = False


class CachedStepper:
    """A model stand-in for decoding: `step` returns log p_mixed as logits."""

    def __init__(
        self,
        model: torch.nn.Module,
        outputs: torch.Tensor,
        ids: list[int],
        cfg: CacheConfig,
        line_start: int,
    ) -> None:
        self.model, self.cfg = model, cfg
        self.stepped = 0
        keys = outputs[:-1].float()  # position i predicts ids[i + 1]; the last has no next yet
        values = ids[1:]
        if cfg.skip_line:
            keys, values = keys[:line_start], values[:line_start]
        if cfg.key == "p":
            keys = model.proj(keys)
        if cfg.key == "cos":
            keys = torch.nn.functional.normalize(keys, dim=-1)
        self.keys = keys.bfloat16() if cfg.bf16 else keys  # (N, H)
        self.values = torch.tensor(values, dtype=torch.long)  # (N,)

    def mixed(self, logits: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """log((1 - lam) softmax(logits) + lam p_cache(query)) for rows (B, V), query (B, H)."""
        cfg = self.cfg
        logp = torch.log_softmax(logits.float(), -1)
        if cfg.lam <= 0 or len(self.values) == 0:
            return logp
        q = query.float()
        if cfg.key == "p":
            q = self.model.proj(q)
        if cfg.key == "cos":
            q = torch.nn.functional.normalize(q, dim=-1)
        scores = (q.to(self.keys.dtype) @ self.keys.T).float()
        weights = torch.softmax(cfg.theta * scores, -1)  # (B, N)
        p_cache = torch.zeros_like(logp).index_add_(1, self.values, weights)  # (B, V)
        lam = cfg.lam
        if cfg.gate:  # trust the cache less where the model is sure, as the identifier cache does
            lam = cfg.lam * (1 - logp.max(-1, keepdim=True).values.exp())  # (B, 1)
        return torch.log((1 - lam) * logp.exp() + lam * p_cache)

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        logits, state = self.model.step(tokens, state)
        self.stepped += 1
        if self.cfg.steps and self.stepped >= self.cfg.steps:
            return logits, state
        return self.mixed(logits, state[-1]), state  # GRU: state[-1] is the top layer's output

    def initial_state(self, batch: int, device: torch.device) -> State:
        return self.model.initial_state(batch, device)


WORD = DecodeOptions(beam_width=5, num_candidates=10, max_tokens=16)
LINE = DecodeOptions(beam_width=5, num_candidates=1, max_tokens=16)


def run_query(
    engine: CompletionEngine,
    text: str,
    kind: str,
    cfg: CacheConfig | None,
    id_weight: float,
    prepared: tuple,
) -> list[str]:
    """Top words (member/ident) or [best line] (line) at the end of `text`."""
    healed, ids, logits, state, outputs = prepared
    model = engine.model
    if cfg is not None and cfg.lam > 0:
        starts = engine.index.starts_line
        line_start = max((i for i in range(len(ids)) if starts[ids[i]]), default=0)
        stepper = CachedStepper(engine.model, outputs, ids, cfg, line_start)
        logits = stepper.mixed(logits, outputs[-1:])
        model = stepper
    stop = StopAt.LINE if kind == "line" else StopAt.IDENTIFIER
    opts = LINE if kind == "line" else WORD
    (found,) = decode_together(
        model, state, logits, engine.index, healed.removed, [(stop, opts)], typed=healed.typed
    )
    if kind == "line":
        before = healed.context + healed.removed
        typed_line = before[before.rfind("\n") + 1 :]
        return [(typed_line + c.text[len(healed.removed) :]).strip() for c in found]
    words = {}
    for c in found:
        label = healed.typed + c.text[len(healed.removed) :]
        if not label[:1].isdigit():
            words[label] = c.probability
    if id_weight > 0:
        cache = cache_distribution(healed.context + healed.removed, healed.typed)
        return [w for w, _ in mix(words, cache, id_weight)][:10]
    return sorted(words, key=lambda w: -words[w])[:10]


def score(G, queries: list[dict], answers: list[list[str]]) -> dict[str, float]:  # noqa: N803
    out: dict[str, float] = {}
    rr = []
    for kind in ("member", "ident"):
        ranks = []
        for q, a in zip(queries, answers, strict=True):
            if q["kind"] != kind:
                continue
            rank = next((i + 1 for i, w in enumerate(a) if w == q["expected"]), None)
            ranks.append(rank)
            rr.append(1 / rank if rank else 0.0)
        out[f"{kind}1"] = sum(r == 1 for r in ranks) / max(len(ranks), 1)
        out[f"{kind}5"] = sum(r is not None and r <= 5 for r in ranks) / max(len(ranks), 1)
    out["mrr"] = sum(rr) / max(len(rr), 1)
    es = [
        G.edit_sim(a[0] if a else "", q["expected"].strip())
        for q, a in zip(queries, answers, strict=True)
        if q["kind"] == "line"
    ]
    out["line_es"] = statistics.fmean(es) if es else float("nan")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--gauge", type=Path, default=GAUGE, help="folder holding lsp_eval.py")
    ap.add_argument("--model", default=None, help="checkpoint directory (default: bundled)")
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--context", type=int, nargs="+", default=[512])
    ap.add_argument("--theta", type=float, nargs="+", default=[])
    ap.add_argument("--lam", type=float, nargs="+", default=[])
    ap.add_argument("--key", nargs="+", default=["h"])
    ap.add_argument("--steps", type=int, nargs="+", default=[0], help="steps mixed (0: all)")
    ap.add_argument("--skip-line", action="store_true", help="also try without the line's keys")
    ap.add_argument("--gate", action="store_true", help="also try lam * (1 - max p_model)")
    ap.add_argument("--bf16", action="store_true", help="also try bfloat16 similarities")
    ap.add_argument("--id", type=float, nargs="+", default=[0.85], help="identifier cache weights")
    ap.add_argument("--no-lines", action="store_true", help="skip line positions (faster)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    sys.path.insert(0, str(args.gauge))
    import lsp_eval as G  # noqa: N812

    chosen = G.select_files(args.corpus, args.files, args.seed)
    queries = G.sample_queries(chosen, args.queries, args.seed, G.KINDS)
    if args.no_lines:
        queries = [q for q in queries if q["kind"] != "line"]
    texts = [chosen[q["file_index"]][1][: q["offset"]] for q in queries]
    configs: list[tuple[str, CacheConfig | None, float]] = [
        ("identifier cache 0.85 (current)", None, 0.85),
        ("model only", None, 0.0),
    ]
    for key in args.key:
        for theta in args.theta:
            for lam in args.lam:
                for steps in args.steps:
                    for skip in (False, True) if args.skip_line else (False,):
                        for gate in (False, True) if args.gate else (False,):
                            for bf16 in (False, True) if args.bf16 else (False,):
                                cfg = CacheConfig(theta, lam, key, steps, skip, gate, bf16)
                                name = f"neural {key} theta={theta:g} lam={lam:g}"
                                name += f" steps={steps}" if steps else ""
                                name += " -line" if skip else ""
                                name += " gated" if gate else ""
                                name += " bf16" if bf16 else ""
                                configs.append((name + " alone", cfg, 0.0))
                                configs += [(name + f" + id {w:g}", cfg, w) for w in args.id]
    print(f"seed {args.seed}: {len(queries)} queries in {len(chosen)} files")
    header = f"{'ctx':>5} {'config':<44} {'mem1':>5} {'mem5':>5} {'id1':>5} {'id5':>5}"
    print(header + f" {'MRR':>6} {'lineES':>6} {'ms':>5}")
    for context in args.context:
        engine = CompletionEngine.load(args.model, context_tokens=context)
        prepared = []
        t0 = time.perf_counter()
        for text in texts:
            healed = engine.heal(text)
            ids = engine.prompt_ids(healed.context)
            logits, state, outputs = feed(engine, ids)
            prepared.append((healed, ids, logits, state, outputs))
        feed_ms = 1000 * (time.perf_counter() - t0) / len(texts)
        print(f"# context {context}: feeding a fresh window takes {feed_ms:.1f} ms per query")
        for name, cfg, id_weight in configs:
            t0 = time.perf_counter()
            answers = [
                run_query(engine, text, q["kind"], cfg, id_weight, p)
                for q, text, p in zip(queries, texts, prepared, strict=True)
            ]
            ms = 1000 * (time.perf_counter() - t0) / len(texts)
            s = score(G, queries, answers)
            print(
                f"{context:>5} {name:<44} {s['member1']:5.3f} {s['member5']:5.3f} "
                f"{s['ident1']:5.3f} {s['ident5']:5.3f} {s['mrr']:6.4f} {s['line_es']:6.3f} "
                f"{ms:5.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
