#!/usr/bin/env bash
# Install what resetlab needs on Debian 12 as root: system packages, then the Python
# package with its dependencies. Idempotent: does nothing that is already done.
#   --vm   also what `python -m netem vm` needs (QEMU, a kernel with sch_netem, virtme-ng);
#          opt-in: ~400 MB that only the kernel-backend runs use
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(iproute2 nftables procps nginx haproxy strace)
VM=0
[ "${1:-}" = "--vm" ] && VM=1
# busybox: virtme-ng builds its initramfs with it
[ "$VM" = 1 ] && APT_PACKAGES+=(qemu-system-x86 linux-image-amd64 busybox-static)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node and npm: this kind of machine ships them (Node 20 + npm); a bare Debian gets Debian's
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
# pip: reinstall whenever pyproject.toml changed since the last install from this folder
stamp=.setup-stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $("$PY" -c 'import sys; print(sys.executable)')"
# ... or whenever `import harness` (tried from / so this folder is not on the path) does not
# come from this folder: an editable install of another checkout, or none at all
installed_here() {
  local here=$PWD
  (cd / && "$PY" -c 'import os, sys, harness
sys.exit(os.path.dirname(os.path.dirname(os.path.realpath(harness.__file__))) != os.path.realpath(sys.argv[1]))' "$here") 2>/dev/null
}
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! installed_here; then
  echo "setup: pip install -e .[dev]"
  "$PY" -m pip install -q --disable-pip-version-check -e '.[dev]'
  installed_here || { echo "setup: the resetlab install does not import from $PWD" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

if [ "$VM" = 1 ] && ! command -v vng >/dev/null 2>&1; then
  echo "setup: pip install virtme-ng"  # pyproject.toml's [vm] extra
  "$PY" -m pip install -q --disable-pip-version-check "virtme-ng>=1.30"
fi

# npm: the project-local client folders, exactly as their lockfiles say (never global)
if command -v npm >/dev/null 2>&1; then
  for dir in clients/node clients/claude-code; do
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [ "$(cat "$dir/node_modules/.resetlab-stamp" 2>/dev/null)" != "$want" ]; then
      echo "setup: npm ci --prefix $dir"
      npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
      echo "$want" > "$dir/node_modules/.resetlab-stamp"
    fi
  done
fi
