"""``python -m dspnet_mm <command> [args]``: see :mod:`dspnet_mm.cli`."""
import sys

from .cli import main

sys.exit(main())
