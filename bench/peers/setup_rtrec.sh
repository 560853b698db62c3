#!/usr/bin/env bash
# Builds bench/peers/.venv-rtrec, the peer library's own virtualenv, from requirements-rtrec.txt.
# Idempotent: a stamp holding the requirements' checksum makes a second run a no-op, and a changed
# requirements file rebuilds the environment. rtrec lives apart from .venv because its pins
# (scikit-learn, pandas, lightfm) are not Attune's dependencies; nothing here installs torch.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${RTREC_VENV:-$HERE/.venv-rtrec}"
REQS="$HERE/requirements-rtrec.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "rtrec venv up to date: $VENV" >&2
    exit 0
fi

# A half-built or stale environment is rebuilt from scratch so its contents match the pins exactly.
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"
if "$VENV/bin/python" -m pip show torch >/dev/null 2>&1; then
    echo "torch ended up in $VENV; the rtrec peer must not need it" >&2
    exit 1
fi
"$VENV/bin/python" -c "import rtrec, sys; print('rtrec', rtrec.__version__, file=sys.stderr)"
echo "$want" >"$STAMP"
