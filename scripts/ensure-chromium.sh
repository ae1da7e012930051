#!/usr/bin/env bash
# Browser tests drive Debian's Chromium. Install it when we can (root with apt-get); otherwise
# say so: the browser tests then skip, or fail where EDGETWIN_REQUIRE_SERVICES=1.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    exit 0
fi
echo "note: chromium is not installed; browser tests will skip (install Debian's 'chromium')." >&2
