"""Whether the model the fit chooses holds from one start of the server to the next.

    python benchmarks/fit_stability.py [--starts 6] [--busy 1,3,5] [--forget] [--model NAME]

Loads the bundled default the way the server does (`CompletionService.load_model`, default
settings, the fit on) in a fresh process per start, all sharing one cache folder (a temporary
`$XDG_CACHE_HOME`), and prints what each start chose: the model, the predicted keystroke and
jump, and how many starts its costs are the fastest of (`remembered_costs`). The starts named
by `--busy` run while two processes spin on the CPU, as an editor starting its extensions
and jedi importing would. `--forget` gives each start a cache of its own: the fit as it was
before the costs were remembered. `--model` names the model in the settings, as an editor
would: the fit then sizes the work but measures and runs only that model.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

LOAD = """
import json, sys
from grucomplete.server.completion_service import CompletionService
from grucomplete.server.options import parse_options
service = CompletionService(parse_options(json.loads(sys.argv[1]))[0])
service.load_model().result()
print(json.dumps(service.machine_fit()))
service.shutdown()
"""


def spin() -> None:
    while True:
        pass


def start(cache: Path, busy: bool, settings: dict[str, object]) -> dict[str, object]:
    """One server start's fit under the editor's `settings`, in a fresh process (with two
    spinning beside it if `busy`)."""
    spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(2 if busy else 0)]
    for spinner in spinners:
        spinner.start()
    try:
        run = subprocess.run(
            [sys.executable, "-c", LOAD, json.dumps(settings)],
            env={**os.environ, "XDG_CACHE_HOME": str(cache)},
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        for spinner in spinners:
            spinner.terminate()
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=6)
    parser.add_argument("--busy", default="1,3,5", help="starts (from 0) run on a busy CPU")
    parser.add_argument("--forget", action="store_true", help="a cache of its own per start")
    parser.add_argument("--model", help="the model the settings name (default: the fit's choice)")
    args = parser.parse_args()
    busy = {int(n) for n in args.busy.split(",") if n.strip()}
    settings = {"model": args.model} if args.model else {}
    print("start | busy | model | predicted keystroke ms | predicted jump ms | fastest of starts")
    with tempfile.TemporaryDirectory() as folder:
        for n in range(args.starts):
            cache = Path(folder) / (str(n) if args.forget else "shared")
            fit = start(cache, n in busy, settings)
            print(
                f"{n} | {'yes' if n in busy else 'no'} | {fit.get('model')} | "
                f"{fit.get('predicted_keystroke_ms')} | {fit.get('predicted_jump_ms')} | "
                f"{fit.get('costs_from_starts')}"
            )


if __name__ == "__main__":
    main()
