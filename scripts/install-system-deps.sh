#!/usr/bin/env bash
# Install the Debian packages the test suite needs.
#
#   scripts/install-system-deps.sh postgresql [more packages...]
#
# - Packages already installed (per dpkg) are skipped; when nothing is
#   missing, apt is not touched at all, so repeated runs are instant.
# - As root, or with passwordless sudo, missing packages are installed with
#   apt-get (after apt-get update).
# - Otherwise (developer laptop without sudo, or a system without apt) the
#   missing packages are listed and the script exits 0: the tests that need
#   them skip with a clear reason outside CI (and fail inside CI).
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 PACKAGE..." >&2
    exit 2
fi

is_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [ "$status" = "install ok installed" ]
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "system deps: no dpkg/apt on this machine; install these yourself if the tests need them: $*" >&2
    exit 0
fi

missing=()
for pkg in "$@"; do
    if ! is_installed "$pkg"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "system deps: all present ($*)"
    exit 0
fi

echo "system deps: missing: ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    as_root=(sudo -n)
else
    echo "system deps: not root and no passwordless sudo; not installing." >&2
    echo "system deps: run 'sudo apt-get install ${missing[*]}' to enable the tests that need them." >&2
    exit 0
fi

"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "system deps: installed ${missing[*]}"
