#!/usr/bin/env bash
# The browser test (tests/browser/) drives Debian's Chromium with Playwright; Playwright's own
# browser download is not used. Install the package when we can (root + apt-get); otherwise say
# how, and go on: the browser test then skips and says why (it fails under
# GMGAN_REQUIRE_BROWSER=1, as in CI).
set -u
command -v chromium >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's chromium (for the browser test)"
  apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
    || echo "warning: could not install chromium; the browser test will skip"
else
  echo "note: the browser test needs Chromium: 'sudo apt-get install chromium'"
fi
exit 0
