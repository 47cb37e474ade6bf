#!/usr/bin/env bash
# The browser of the page tests (tests/test_pages.py): Debian's chromium and a font for its
# screenshots. Idempotent: when both are there it only prints the version; otherwise it
# refreshes apt's lists (stale lists point at superseded packages) and installs what is
# missing, without recommended packages. Needs root, or sudo, to install.
set -euo pipefail

CHROMIUM="${KIT_CHROMIUM:-/usr/lib/chromium/chromium}"  # the binary; /usr/bin/chromium is a wrapper script
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
[ -e "$FONT" ] || missing+=(fonts-dejavu-core)

if [ "${#missing[@]}" -gt 0 ]; then
    sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "install-chromium.sh: installing ${missing[*]} needs root (or sudo)" >&2; exit 1; }
        sudo=(sudo)
    fi
    echo "installing ${missing[*]} ..."
    export DEBIAN_FRONTEND=noninteractive
    for try in 1 2 3; do
        if "${sudo[@]}" apt-get update -q -o DPkg::Lock::Timeout=120 >/dev/null &&
           "${sudo[@]}" apt-get install -y -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=120 \
               --no-install-recommends "${missing[@]}" >/dev/null; then
            break
        fi
        [ "$try" = 3 ] && { echo "install-chromium.sh: apt-get could not install ${missing[*]}" >&2; exit 1; }
        sleep $((try * 5))
    done
fi
"$CHROMIUM" --version
