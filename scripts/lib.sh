# Shared helpers for the project's scripts (sourced, not run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==== %s ====\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "need root for: $*" >&2; return 1; fi
}

# Install Debian packages that are missing (by package name).
apt_need() {
    local missing=()
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        step "installing Debian packages: ${missing[*]}"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

# Build prerequisites: a C compiler for bundled SQLite, pkg-config, and the
# TPM software stack (tpm2-tss) that the tpm2 keystore links against.
need_build_tools() {
    if ! command -v cc >/dev/null || ! command -v pkg-config >/dev/null; then
        apt_need build-essential pkg-config
    fi
    pkg-config --exists tss2-esys tss2-tctildr tss2-mu tss2-sys 2>/dev/null || apt_need libtss2-dev
    command -v cargo >/dev/null || { echo "Rust (cargo) is required: https://rustup.rs" >&2; exit 1; }
}

# A free loopback TCP port.
free_port() {
    python3 - <<'PY' 2>/dev/null || echo $(( 20000 + RANDOM % 20000 ))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

wait_ready() { # URL, seconds
    local url="$1" n="${2:-30}"
    for _ in $(seq 1 $((n * 10))); do
        curl -fsS "$url/ready" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "node at $url not ready after ${n}s" >&2
    return 1
}
