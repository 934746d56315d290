#!/usr/bin/env bash
# A screenshot of a real completion in VS Code: the end-to-end test (editors/vscode/e2e) with the
# bundled model and the server's default settings, on examples/demo.py up to `os` on line 12,
# after typing `.`.
#
#   bash editors/vscode/e2e/install.sh      # once: code-server and playwright-core
#   bash editors/screenshots/vscode_screenshot.sh [OUT.png]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$root/editors/screenshots/vscode.png}")
python=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$python" - "$root/examples/demo.py" > "$tmp/demo.py" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines(keepends=True)
sys.stdout.write("".join(lines[:11]) + lines[11][: lines[11].index("os") + 2])
PY
(cd "$root/editors/vscode" && npm run --silent package -- --out "$tmp/grucomplete.vsix" > /dev/null)
node "$root/editors/vscode/e2e/e2e.mjs" --vsix "$tmp/grucomplete.vsix" --model default \
  --precision int8 --latency-budget-ms 80 --source "$tmp/demo.py" --expect-ghost "" \
  --python "$python" --screenshot "$out"
