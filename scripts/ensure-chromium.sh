#!/usr/bin/env bash
# Make sure Debian's chromium is there for the browser tests (tests/web/test_browser.py and
# tests/web/test_docs_offline.py);
# Playwright drives it and never downloads a browser of its own.
#
# Prints, on stdout, the pytest arguments the test run needs: none when chromium is there
# (or was installed: apt-get, as root); when it is missing and this is not root, it says
# loudly on stderr what to run and prints the argument that leaves the browser tests out.
# CI runs as root, so there they always run.
set -euo pipefail

if [ -x /usr/bin/chromium ] && command -v chromium >/dev/null; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "ensure-chromium: installing chromium" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
    exit 0
fi
cat >&2 <<'LOUD'
################################################################################
## chromium is NOT installed and this is not root, so it cannot be installed: ##
##   run:  sudo apt-get install chromium                                      ##
## The BROWSER TESTS (tests/web/test_browser.py, test_docs_offline.py) are    ##
## SKIPPED in this run.                                                       ##
################################################################################
LOUD
echo "--ignore=tests/web/test_browser.py --ignore=tests/web/test_docs_offline.py"
