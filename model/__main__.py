"""`python -m grucomplete.model` runs the `grucomplete` command."""

import sys

from .cli import main

sys.exit(main())
