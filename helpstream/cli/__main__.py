"""`python -m helpstream.cli` (how `helpstream up` starts its children)."""

import sys

from helpstream.cli import main

sys.exit(main())
