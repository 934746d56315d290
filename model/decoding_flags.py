"""The decoding options as command-line flags, shared by `grucomplete complete` and `eval`."""

from __future__ import annotations

import argparse

from .decoding import STRATEGIES, DecodeOptions


def add_decoding_flags(parser: argparse.ArgumentParser, seed_help: str = "sampling seed") -> None:
    d = DecodeOptions()
    group = parser.add_argument_group("decoding")
    group.add_argument("--strategy", choices=STRATEGIES, default=d.strategy)
    group.add_argument("--beam", type=int, default=d.beam_width, help="beam width")
    group.add_argument("-n", "--num", type=int, default=d.num_candidates, help="candidates")
    group.add_argument("--max-tokens", type=int, default=d.max_tokens)
    group.add_argument("--temperature", type=float, default=d.temperature)
    group.add_argument("--top-k", type=int, default=d.top_k)
    group.add_argument("--top-p", type=float, default=d.top_p)
    group.add_argument("--repetition-penalty", type=float, default=d.repetition_penalty)
    group.add_argument("--length-penalty", type=float, default=d.length_penalty)
    if not any(a.dest == "seed" for a in parser._actions):
        group.add_argument("--seed", type=int, default=None, help=seed_help)


def decode_options_from(args: argparse.Namespace) -> DecodeOptions:
    """Raises ValueError naming the bad option."""
    return DecodeOptions(
        strategy=args.strategy,
        beam_width=args.beam,
        num_candidates=args.num,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        length_penalty=args.length_penalty,
        seed=args.seed,
    )
