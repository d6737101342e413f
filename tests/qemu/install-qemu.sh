#!/bin/bash
# Installs the two real QEMU versions the project tests against (Debian bookworm, root):
#   QEMU 10.0.2  system packages from bookworm-backports (x86, arm, ppc, misc, s390x, riscv)
#   QEMU 7.2.22  bookworm packages unpacked with dpkg -x into $Q72_ROOT (they conflict with 10.0)
# Idempotent. Used by tests/fixtures/make-fixtures.sh and by .ci/run (the real-QEMU tests).
# Run 7.2 as: QEMU_MODULE_DIR=$Q72_ROOT/usr/lib/x86_64-linux-gnu/qemu \
#             $Q72_ROOT/usr/bin/qemu-system-ARCH -L $Q72_ROOT/usr/share/qemu
set -euo pipefail
Q72_ROOT="${Q72_ROOT:-/opt/qemu72}"
V72=1:7.2+dfsg-7+deb12u18+b3          # arch-dependent packages (binNMU)
V72_DATA=1:7.2+dfsg-7+deb12u18        # qemu-system-data (arch all)
export DEBIAN_FRONTEND=noninteractive

if ! grep -qs bookworm-backports /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sed -i '0,/Suites: bookworm bookworm-updates$/s//Suites: bookworm bookworm-updates bookworm-backports/' \
            /etc/apt/sources.list.d/debian.sources
    else
        echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/backports.list
    fi
fi
if ! command -v qemu-system-s390x >/dev/null || ! qemu-system-x86_64 --version | grep -q 'version 10\.'; then
    apt-get update -qq
    apt-get install -y -qq -t bookworm-backports qemu-system-x86 qemu-system-arm qemu-system-ppc \
        qemu-system-misc qemu-system-s390x qemu-system-riscv qemu-system-gui >/dev/null
fi
if [ ! -x "$Q72_ROOT/usr/bin/qemu-system-s390x" ]; then
    apt-get update -qq
    tmp="$(mktemp -d)"
    ( cd "$tmp" && apt-get download -qq qemu-system-x86=$V72 qemu-system-arm=$V72 qemu-system-ppc=$V72 \
        qemu-system-misc=$V72 qemu-system-common=$V72 qemu-system-gui=$V72 qemu-system-data=$V72_DATA )
    mkdir -p "$Q72_ROOT"
    for f in "$tmp"/*.deb; do dpkg -x "$f" "$Q72_ROOT"; done
    rm -rf "$tmp"
fi
# Libraries the 7.2 binaries and modules need that 10.0 does not pull in.
missing=""
for f in "$Q72_ROOT"/usr/bin/qemu-system-* "$Q72_ROOT"/usr/lib/x86_64-linux-gnu/qemu/*.so; do
    # qemu-system-i386 is a shell wrapper in 7.2's package: ldd fails on it (not a dynamic executable)
    missing="$missing $(ldd "$f" 2>/dev/null | awk '/not found/ {print $1}' || true)"
done
missing="$(echo $missing | tr ' ' '\n' | sort -u | grep -v '^$' || true)"
if [ -n "$missing" ]; then
    pkgs=""
    for lib in $missing; do
        p="$(apt-cache search --names-only "^$(echo "$lib" | sed 's/\.so\.\([0-9]*\).*/\1/; s/\.so$//' | tr 'A-Z_' 'a-z-')" 2>/dev/null | awk '{print $1}' | head -1)"
        [ -n "$p" ] && pkgs="$pkgs $p"
        echo "install-qemu: 7.2 needs $lib ${p:+(package $p)}" >&2
    done
    [ -n "$pkgs" ] && apt-get install -y -qq $pkgs >/dev/null || true
fi
qemu-system-x86_64 --version | head -1
QEMU_MODULE_DIR="$Q72_ROOT/usr/lib/x86_64-linux-gnu/qemu" "$Q72_ROOT/usr/bin/qemu-system-x86_64" \
    -L "$Q72_ROOT/usr/share/qemu" --version | head -1
