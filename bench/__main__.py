"""`python -m bench`: what `scripts/bench` runs (see `bench.run`)."""

import sys

from bench.run import main

sys.exit(main())
