#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests (tests/test_browser.py).
# Playwright drives this system browser; `playwright install` would download its own build, which
# this project's machines cannot fetch. Never fails the build: without Chromium the browser tests
# skip and say why.
set -uo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: /usr/bin/chromium missing and apt-get unusable (need root on Debian);" \
         "browser tests will be skipped. Install it with: apt-get install chromium" >&2
    exit 0
fi
echo "ensure_chromium: installing Debian's chromium package (one time)..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium; } >/tmp/ensure_chromium.log 2>&1; then
    echo "ensure_chromium: apt-get failed (see /tmp/ensure_chromium.log); browser tests will be skipped." >&2
fi
exit 0
