"""A stand-in for a benchmark kernel: prints a triad bandwidth around $LEVEL GB/s with 1.5%
noise (a real kernel's run-to-run variation), so that a history can be made in seconds."""

import os
import random

level = float(os.environ.get("LEVEL", "10.0"))
print(f"triad: {level * (1 + random.gauss(0, 0.015)):.4f} GB/s")
