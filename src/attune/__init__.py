"""Attune: a self-hosted, real-time personalized recommendation engine."""

import os

# torch's OpenMP runtime (libgomp) spin-waits between parallel regions by default; on cores
# shared with other processes the spinning threads steal the cores the work needs, and
# training slows several-fold. It is read once when torch loads, so it has to be set here,
# before any module imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
