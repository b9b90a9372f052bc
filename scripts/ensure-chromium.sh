#!/usr/bin/env bash
# The report tests open the rendered HTML in headless Chromium (Debian's `chromium` package).
# Installs it where it is missing and this is a Debian machine on which we are root.
set -euo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium for the report tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium is missing and cannot be installed here (needs root and apt-get):" \
    "run 'sudo apt-get install chromium'; until then the browser test is skipped" >&2
fi
