#!/bin/sh
# Install the firmware toolchains and the C library's source if missing (idempotent), as root;
# everything is installed --no-install-recommends. As anyone else, one line per missing thing
# and go on: the firmware is then built with zig's clang (pipsim[zig], which make setup
# installs when arm-none-eabi-gcc is missing: pipkernel/needs.py), newlib's source is fetched
# without root (tools/newlib-source.sh), the CMake test is skipped.
#  * ARM: Debian's arm-none-eabi-gcc (without the recommended newlib/libstdc++ binaries).
#  * x86: the host gcc with -m32; lib32gcc-12-dev for libgcc's 32-bit helpers (64-bit
#    division, which the C library's printf and strtoll need).
#  * cmake, for the SDK's CMake toolchain files (docs/sdk.md; tests/sdk).
#  * The C library of both: Debian's newlib-source (5.8 MB), which `make -C firmware`
#    builds once with the compilers above into build/libc/{arm,x86} (tools/build-libc.sh;
#    docs/sdk.md "The C library": why not picolibc-arm-none-eabi, 356 MB, ARM only).
set -eu
cd "$(dirname "$0")"

missing=""
command -v arm-none-eabi-gcc >/dev/null 2>&1 || missing="$missing gcc-arm-none-eabi binutils-arm-none-eabi"
libgcc32=$(gcc -m32 -print-libgcc-file-name 2>/dev/null) || libgcc32=""
[ -f "$libgcc32" ] && echo "$libgcc32" | grep -q /32/ || missing="$missing lib32gcc-12-dev"
ls /usr/src/newlib/newlib-*.tar.* >/dev/null 2>&1 || missing="$missing newlib-source"
command -v cmake >/dev/null 2>&1 || missing="$missing cmake"     # the SDK's toolchain files
if [ -n "$missing" ] && [ "$(id -u)" != 0 ]; then
    then=""
    case $missing in *gcc*) then="$then; the firmware is built with zig's clang (pipsim[zig])";; esac
    case $missing in *newlib*) then="$then; newlib's source is fetched by apt-get download";; esac
    case $missing in *cmake*) then="$then; the SDK's CMake test is skipped";; esac
    echo "setup-toolchain: not root, so not installing$missing$then"
    exit 0
fi
if [ -n "$missing" ]; then
    echo "setup-toolchain: installing$missing (no recommends)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
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

echo "setup-toolchain: arm-none-eabi-gcc $(arm-none-eabi-gcc -dumpversion), gcc -m32 ok," \
     "$(basename /usr/src/newlib/newlib-*.tar.*)"
