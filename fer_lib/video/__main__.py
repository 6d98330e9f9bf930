"""``python -m fer_lib.video``: the same as ``fer-video``."""

import sys

from fer_lib.video.cli import main

sys.exit(main())
