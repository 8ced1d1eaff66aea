"""`python -m deeptrack_ros.eval`: the same entry point as the `deeptrack-eval` script."""

import sys

from deeptrack_ros.eval.cli import main

sys.exit(main())
