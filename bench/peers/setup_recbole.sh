#!/usr/bin/env bash
# Builds bench/peers/.venv-recbole, RecBole 1.2.1's own virtualenv, from requirements-recbole.txt.
# Idempotent: a stamp holding the requirements' checksum makes a second run a no-op, and a changed
# requirements file rebuilds the environment. RecBole lives apart from .venv because it needs
# numpy 1.x and pandas < 2.2, while Attune runs on numpy 2.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${RECBOLE_VENV:-$HERE/.venv-recbole}"
REQS="$HERE/requirements-recbole.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "recbole venv up to date: $VENV" >&2
    exit 0
fi

torch_pin="$(grep -E '^torch==' "$REQS")"
if [[ -z "$torch_pin" ]]; then
    echo "$REQS pins no torch version; refusing to let pip pick one (it would pull CUDA)" >&2
    exit 1
fi

# A half-built or stale environment is rebuilt from scratch so its contents match the pins exactly.
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
# torch first and pinned: resolved together with recbole's loose `torch>=1.10`, pip may prefer a
# multi-GB CUDA build from the index over the CPU wheel on disk.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$torch_pin"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"
if "$VENV/bin/python" -m pip list 2>/dev/null | grep -qi '^nvidia-'; then
    echo "CUDA packages ended up in $VENV; the RecBole peer must run on the CPU torch" >&2
    exit 1
fi
"$VENV/bin/python" -c "
import sys, numpy, torch, recbole
print('recbole', recbole.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__,
      file=sys.stderr)
"
echo "$want" >"$STAMP"
