#!/usr/bin/env bash
# Everything the test suite needs on a fresh machine, from the package registries:
# the package with its test extras (PyPI), and Debian's chromium for the HTML-report
# test that renders the triage report in a real headless browser.
# Go (1.21 or newer) must already be on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "install.sh: the Go toolchain is needed (https://go.dev/dl); 'go' is not on PATH" >&2
  exit 1
fi

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "install.sh: chromium is missing and cannot be installed here (needs apt-get as root);" \
         "the browser test will fail unless GOPERF_SKIP_BROWSER=1 is set" >&2
  fi
fi

python -m pip install -q -e '.[test]'
