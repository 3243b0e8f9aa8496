#!/usr/bin/env bash
# Debian packages the tests need: Chromium for browser tests, Noto CJK fonts and poppler for PDFs,
# nginx to check the deployment's site file (`nginx -t`, tests/test_deploy.py; never started here).
# Installs what is missing when allowed (root, or sudo without a password); says what to do otherwise.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Capture fc-list first: `fc-list | grep -q` under pipefail fails whenever grep exits early and
# fc-list dies of SIGPIPE, so the fonts were reported missing in about half the runs.
fonts=$(fc-list 2>/dev/null || true)
grep -q "Noto Sans CJK" <<<"$fonts" || missing+=(fonts-noto-cjk)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
# Debian 12's `nginx` holds the binary (nginx-light is only it plus a module).
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # the nginx test's self-signed certificate

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "缺少测试所需的系统软件包：${missing[*]}" >&2
  echo "Missing Debian packages: ${missing[*]}. Install them with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "Browser, PDF and nginx tests will be skipped until then (and fail under CI=true)." >&2
  exit 0
fi

echo "Installing Debian packages: ${missing[*]}"
# nginx's package starts its service on port 80 as it is installed: a test machine wants the binary
# only (and a port 80 already taken would fail the install). A policy-rc.d that says 101 is
# Debian's way to keep maintainer scripts from starting services; one already there is kept.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# scripts/system-deps.sh: no service starts while it installs\nexit 101\n' |
    "${as_root[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${as_root[@]}" chmod 755 /usr/sbin/policy-rc.d
  trap '"${as_root[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${as_root[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
