#!/usr/bin/env bash
# Debian tools the test suite drives for real: docker-compose (validates compose.yaml), chromium and its
# driver (opens the HTML report in a real browser), docker-registry (a loopback registry that images are
# pushed to and pulled from). Idempotent; installs only what is missing (needs root).
set -euo pipefail
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v docker-registry >/dev/null 2>&1 || [[ -x /usr/bin/docker-registry ]] || missing+=(docker-registry)
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if [[ "$(id -u)" -ne 0 ]]; then
    echo "ensure_tools.sh: the tests need ${missing[*]}: install them (apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "ensure_tools.sh: installing Debian's ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
