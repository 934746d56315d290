"""`python -m grucomplete.training` runs the `grucomplete` command."""

import os
import sys

# `python -m` puts the working directory first on sys.path, and the editor extensions start us
# inside the user's project: its own json.py or tqdm.py must never be imported (and so run) in
# place of the real module. This is what Python 3.11's -P / PYTHONSAFEPATH do.
if not getattr(sys.flags, "safe_path", False) and sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from .cli import main  # noqa: E402

sys.exit(main())
