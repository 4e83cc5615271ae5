"""Allow ``python -m assay``."""

import sys

from assay.entry import main

sys.exit(main())
