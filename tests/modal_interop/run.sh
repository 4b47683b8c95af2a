#!/usr/bin/env bash
# Build the modAL interop environment and run tests/modal_interop in it.
#
# modAL-python 0.4.2.1 pins skorch==0.9.0 and its teach() breaks on
# scikit-learn >= 1.8, so it cannot share the main environment. This
# environment holds only scikit-learn < 1.8 and modAL (installed with
# --no-deps); everything else (torch, skorch, numpy, scipy, pandas, pytest)
# comes from the main venv through a .pth line. A .pth directory is appended
# AFTER the venv's own site-packages, so the venv's scikit-learn wins.
#
# Usage: tests/modal_interop/run.sh [extra pytest args]
#   MAIN_VENV   main environment (default .venv)
#   MODAL_VENV  interop environment to build/reuse (default .venv-modal)
set -euo pipefail
cd "$(dirname "$0")/../.."

MAIN_VENV=${MAIN_VENV:-.venv}
MODAL_VENV=${MODAL_VENV:-.venv-modal}

purelib() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

ready() {
    [ -x "$MODAL_VENV/bin/python" ] && "$MODAL_VENV/bin/python" - <<'EOF' 2>/dev/null
import sklearn, modAL.models  # noqa: F401
major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
raise SystemExit(0 if (major, minor) < (1, 8) else 1)
EOF
}

if ! ready; then
    echo "== building $MODAL_VENV (scikit-learn<1.8 + modAL-python==0.4.2.1, rest from $MAIN_VENV)"
    rm -rf "$MODAL_VENV"
    # The main venv's interpreter guarantees the same Python version, so the
    # shared site-packages (compiled wheels included) load.
    "$MAIN_VENV/bin/python" -m venv "$MODAL_VENV"
    echo "$(cd "$(purelib "$MAIN_VENV")" && pwd)" > "$(purelib "$MODAL_VENV")/zz_main.pth"
    "$MODAL_VENV/bin/python" -m pip install --quiet "scikit-learn<1.8"
    "$MODAL_VENV/bin/python" -m pip install --quiet --no-deps "modAL-python==0.4.2.1"
fi

# skal itself comes from the working tree (the main venv's editable install
# is a .pth hook that a shared directory does not run).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$MODAL_VENV/bin/python" - <<'EOF'
import modAL, sklearn, skorch, torch, skal
major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
assert (major, minor) < (1, 8), f"interop env has scikit-learn {sklearn.__version__}"
print(f"modAL interop env: scikit-learn {sklearn.__version__} ({sklearn.__file__}), "
      f"skorch {skorch.__version__}, torch {torch.__version__}, skal from {skal.__file__}")
EOF

# pyproject's addopts ignores tests/modal_interop for the main run: clear it here.
exec "$MODAL_VENV/bin/python" -m pytest tests/modal_interop \
    -p no:cacheprovider --override-ini addopts= -q -ra "$@"
