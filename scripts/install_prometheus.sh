#!/usr/bin/env bash
# Install Debian's Prometheus (promtool) and Alertmanager for the alert rules' tests
# (tests/unit/ops/test_alert_rules.py, tests/integration/ops/test_alerts_live.py) and for
# `CLOUT_STACK_ALERTS=on make stack-up`. Idempotent: does nothing when both are there.
# The packages' service scripts never start anything: a policy-rc.d that refuses every start
# stands in place for the install (kept if the machine already has one), and there is no
# systemd in a container. The stack and the tests run their own processes on loopback.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1; then
    echo "prometheus: already installed ($(promtool --version 2>&1 | head -n 1))"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "prometheus: promtool or prometheus-alertmanager is missing and installing needs root (or sudo)" >&2
    exit 1
fi

POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# scripts/install_prometheus.sh: no service starts during the install\nexit 101\n' \
        | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    trap '"${SUDO[@]}" rm -f "$POLICY"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
# Another apt-get (a browser install in a parallel `make test`) holds the lock: wait for it.
APT=(apt-get -q -o DPkg::Lock::Timeout=600)
"${SUDO[@]}" "${APT[@]}" update
"${SUDO[@]}" "${APT[@]}" install -y --no-install-recommends prometheus prometheus-alertmanager

for tool in promtool prometheus prometheus-alertmanager amtool; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "prometheus: apt-get finished but $tool is still missing" >&2
        exit 1
    fi
done
echo "prometheus: installed ($(promtool --version 2>&1 | head -n 1))"
