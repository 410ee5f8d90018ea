"""``python -m pclbayes``: the command-line interface."""

from __future__ import annotations

import sys

from pclbayes.cli import main

sys.exit(main())
