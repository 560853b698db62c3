import sys
from pathlib import Path

# bench/ is a folder of scripts, not an installed package; its peers/ package is imported the way
# the benchmarks import it, with bench/ on sys.path.
BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
