#!/usr/bin/env bash
# Install genbench and its test tools into the current Python environment.
#
# torch: an environment that already has torch keeps it (a GPU cluster's CUDA build stays as it is).
# Otherwise torch is installed first, so that pip never resolves a bare `torch` on its own, which
# would pull the newest CUDA build and gigabytes of CUDA libraries:
#   - TORCH_INDEX_URL set: `torch` from that index, e.g. https://download.pytorch.org/whl/cpu or .../cu126;
#   - else `torch==$GENBENCH_TORCH_VERSION` (default 2.13.0, the version genbench is tested with), which
#     takes a local CPU wheel when pip's find-links offers one (as on our CPU machines).
# GENBENCH_EDITABLE=0 installs a regular (non-editable) copy.
# Extras: test (pytest, ruff, mkdocs-material for the docs site) and cluster (hydra-submitit-launcher, hydra-optuna-sweeper with the optuna and
# SQLAlchemy they work with); GENBENCH_EXTRAS=test installs without the cluster ones.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
pip_install() { "$PYTHON" -m pip install --disable-pip-version-check "$@"; }

if "$PYTHON" -c "import torch" 2>/dev/null; then
  echo "install.sh: keeping the installed torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
elif [ -n "${TORCH_INDEX_URL:-}" ]; then
  pip_install torch --index-url "$TORCH_INDEX_URL"
else
  pip_install "torch==${GENBENCH_TORCH_VERSION:-2.13.0}"
fi

EXTRAS=${GENBENCH_EXTRAS:-test,cluster}
if [ "${GENBENCH_EDITABLE:-1}" = "0" ]; then
  pip_install ".[$EXTRAS]"
else
  pip_install -e ".[$EXTRAS]"
fi
echo "install.sh: genbench installed; run \`genbench\` for the default experiment, \`python -m pytest -q -n auto\` for the tests"
