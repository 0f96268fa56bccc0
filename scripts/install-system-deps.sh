#!/usr/bin/env bash
# Installs the Debian packages the tests run for real: prometheus (with promtool)
# and prometheus-alertmanager. Needs root (CI and the dev machines run as root).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
    echo "install as root: apt-get install prometheus prometheus-alertmanager" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
