"""`python -m r1kit ...` = `r1kit ...`; what torchrun runs: `torchrun --nproc_per_node 2 -m r1kit train grpo ...`."""

import sys

from r1kit.cli import main

sys.exit(main())
