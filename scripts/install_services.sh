#!/usr/bin/env bash
# PostgreSQL and Redis servers from Debian (packages postgresql, redis-server) for `make cluster` and
# tests/cluster (scripts/cluster.py runs them itself, unprivileged, in a temporary directory).
# Idempotent: installs only what is missing (a postgres binary under /usr/lib/postgresql/<version>/bin,
# redis-server); does nothing when both are there. Run by `make cluster` and .ci/run; needs root (CI) or
# sudo (a developer's machine).
set -euo pipefail
missing=()
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    missing+=(postgresql)
fi
if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
    missing+=(redis-server)
fi
if [ "${#missing[@]}" -eq 0 ]; then
    pg="$(compgen -G "/usr/lib/postgresql/*/bin/postgres" | sort -V | tail -n 1)"
    echo "services: $("$pg" --version) and $(redis-server --version | cut -d' ' -f1-3) already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
pg="$(compgen -G "/usr/lib/postgresql/*/bin/postgres" | sort -V | tail -n 1)"
echo "services: $("$pg" --version) and $(redis-server --version | cut -d' ' -f1-3) installed"
