#!/usr/bin/env bash
# The headless browser the kit's tests look at rendered pages with (tests/browser.py):
# Debian's chromium (the binary /usr/lib/chromium/chromium, driven by Playwright; nothing is
# downloaded by Playwright itself) and a font. Idempotent: does nothing when both are there.
# Installing needs root and apt (CI runs as root); elsewhere it says what to install.
set -euo pipefail
pkgs=()
[ -x "${KIT_CHROMIUM:-/usr/lib/chromium/chromium}" ] || pkgs+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || pkgs+=(fonts-dejavu-core)
if [ "${#pkgs[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "the tests need ${pkgs[*]} (Debian packages); install them, or set KIT_CHROMIUM to a Chromium binary" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
for try in 1 2 3; do
  # Refresh the package lists first: an image's lists may point at superseded packages.
  if apt-get update -q -o DPkg::Lock::Timeout=120 >/dev/null &&
     apt-get install -y -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=120 --no-install-recommends "${pkgs[@]}" >/dev/null; then
    exit 0
  fi
  sleep $((try * 5))
done
echo "could not install ${pkgs[*]}" >&2
exit 1
