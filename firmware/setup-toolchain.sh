#!/bin/sh
# Install the firmware toolchains if missing (idempotent). Needs root for apt-get.
#  * ARM: Debian's arm-none-eabi-gcc, without the recommended newlib/libstdc++ (~2 GB):
#    firmware is -nostdlib and only needs libgcc.a, which the package ships.
#  * x86: the host gcc with -m32 -ffreestanding -nostdlib; only libgcc helpers would need
#    lib32gcc-12-dev, and the firmware avoids them (no 64-bit division).
set -eu

if ! command -v arm-none-eabi-gcc >/dev/null 2>&1; then
    echo "setup-toolchain: installing gcc-arm-none-eabi (no recommends)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc-arm-none-eabi binutils-arm-none-eabi
fi

# x86: check that the host compiler builds a freestanding 32-bit object and links it.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'void _start(void){for(;;){}}\n' > "$tmp/t.c"
if ! gcc -m32 -ffreestanding -nostdlib -fno-pic -no-pie -static -Wl,--build-id=none \
        "$tmp/t.c" -o "$tmp/t.elf" >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2
    echo "setup-toolchain: 'gcc -m32' cannot build freestanding x86-32 code." >&2
    echo "  install a gcc with i386 support, e.g. apt-get install gcc-multilib" >&2
    exit 1
fi
echo "setup-toolchain: arm-none-eabi-gcc $(arm-none-eabi-gcc -dumpversion), gcc -m32 ok"
