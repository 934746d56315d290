#!/usr/bin/env bash
# One GPU session in one command: the bundled models, then the two training experiments.
#
#   bash examples/train_on_gpu.sh pack            # here: .gpu/ holds the corpus and tokenizers
#   bash examples/train_on_gpu.sh run OUT         # on the GPU machine: results under OUT
#
# `pack` needs `grucomplete fetch-corpus .work/corpus5`, `grucomplete fetch-corpus .work/heldout
# --heldout` and `python benchmarks/tokenizer_choice.py fit .work/corpus .work/heldout
# .work/tokfit`. `run` needs only python3 with torch and tokenizers: the repository is put on
# the path as the `grucomplete` namespace, nothing is installed. Results are written as each
# step ends (OUT/models.tar.*, OUT/ss.tar.*, OUT/tokenizer_choice.json, OUT/run.log), so a run
# cut short still returns what it finished. Budgets: MODEL_MINUTES, SS_SECONDS, TOK_SECONDS;
# MODEL_ARGS and SS_ARGS add flags (a small batch for a trial run on a CPU); EXPERIMENTS=0
# trains the models alone (a later session continuing them with --init).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == pack ]]; then
    mkdir -p .gpu/tok
    cp .work/tokfit/*.json .gpu/tok/
    tar -C .work --exclude=.sdists -cf - corpus5 heldout | xz -6 -T0 > .gpu/corpus.tar.xz
    du -sh .gpu
    exit
fi
[[ "${1:-}" == run && -n "${2:-}" ]] || { echo "usage: $0 pack | run OUT" >&2; exit 2; }
out=$(realpath -m "$2")
work=${WORK:-/tmp/grucomplete-gpu}
device=${DEVICE:-cuda}
rm -rf "$work"  # a rerun on a warm machine starts clean
mkdir -p "$out" "$work/ns/grucomplete"
exec > >(tee -a "$out/run.log") 2>&1
for package in model server training; do ln -sfn "$PWD/$package" "$work/ns/grucomplete/$package"; done
export PYTHONPATH="$work/ns" PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
nvidia-smi -L || true
SECONDS=0
# Python's lzma, not xz: the GPU machine's image need not have xz-utils.
python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' \
    "${ARCHIVE:-.gpu/corpus.tar.xz}" | tar -x -C "$work"
mv "$work/corpus5" "$work/corpus"  # the name the data card records
echo "unpacked in ${SECONDS}s"

# shellcheck disable=SC2086  # MODEL_MINUTES and MODEL_ARGS are lists
python3 examples/train_default_model.py "$work/corpus" "$work/heldout" model/default/tokenizer.json \
    "$work/models" --device "$device" --minutes ${MODEL_MINUTES:-default=3.3 fast=1.8} ${MODEL_ARGS:-}
tar -C "$work/models" -cf - . | split -b 15m - "$out/models.tar."
echo "models done at ${SECONDS}s"

[[ "${EXPERIMENTS:-1}" == 0 ]] && exit

# The experiments are independent: one failing must not cost the other (inside a function
# called before `||`, bash ignores set -e, hence the explicit &&).
scheduled_sampling() {
    python3 benchmarks/scheduled_sampling.py "$work/corpus" "$work/heldout" \
        model/default/tokenizer.json "$work/ss" --seconds "${SS_SECONDS:-25}" --device "$device" \
        ${SS_ARGS:-} &&
    (cd "$work/ss" && tar -cf - scheduled_sampling.json ss-*/config.json ss-*/model.safetensors \
        ss-*/tokenizer.json) | split -b 15m - "$out/ss.tar."
}
scheduled_sampling || echo "scheduled sampling FAILED"
echo "scheduled sampling done at ${SECONDS}s"

tokenizer_choice() {
    cp -r .gpu/tok "$work/tok" &&
    python3 benchmarks/tokenizer_choice.py compare "$work/corpus" "$work/heldout" "$work/tok" \
        --seconds "${TOK_SECONDS:-15}" --hidden-size 448 --sample-chars 40000000 &&
    cp "$work/tok/tokenizer_choice.json" "$out/"
}
tokenizer_choice || echo "tokenizer comparison FAILED"
echo "all done at ${SECONDS}s"
