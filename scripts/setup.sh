#!/usr/bin/env bash
# Install what resetlab needs on Debian 12 as root: system packages, then the Python
# package with its dependencies. Idempotent: does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(iproute2 nftables procps nginx haproxy)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! "$PY" - <<'PYEOF' 2>/dev/null
import importlib.metadata as m, sys
m.version("resetlab")
for mod in ("pyroute2", "trio", "h11", "h2", "anthropic", "xdist", "hypothesis", "trustme", "ruff"):
    __import__(mod)
PYEOF
then
  echo "setup: pip install -e .[dev]"
  "$PY" -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v -i "warning" || true
  "$PY" -c "import importlib.metadata as m; m.version('resetlab')"
fi
