#!/bin/sh
# Install what the project needs, idempotently: Debian packages that are
# missing (apt-get update only when something is), then a virtualenv with the
# pinned Python requirements. Re-running it changes nothing.
set -eu
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

missing=""
for pkg in $(grep -v '^#' apt-packages.txt); do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing Debian packages:$missing (run as root or install them)" >&2
        exit 1
    fi
    echo "install-deps: apt-get install$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "install-deps: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "install-deps: pip install -r requirements.txt"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt
    echo "$want" > "$stamp"
fi
