"""``python -m daydreaming_dagster.cli``: the same as ``daydream``."""

import sys

from daydreaming_dagster.cli import main

sys.exit(main())
