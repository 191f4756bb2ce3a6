#!/bin/sh
# Build newlib from Debian's newlib-source for one architecture (the firmware Makefile's
# build/libc/ARCH rule, docs/sdk.md "The C library"):
#   tools/build-libc.sh OUT TARGET CC "CFLAGS" AR RANLIB TARBALL
# OUT gets include/ and lib/{libc,libm}.a, and a stamp of the arguments: built once, again
# only when they change. CC, CFLAGS and the binutils are the SDK's (pipkernel/sdk/flags.py:
# GCC's or zig's); newlib's own system calls are off (libpip/syscalls.c has them). TARBALL:
# newlib's source (tools/newlib-source.sh finds it).
set -eu
out=$(realpath -m "$1") target=$2 cc=$3 cflags=$4 ar=$5 ranlib=$6 tarball=$7
# built already with these arguments: nothing to do
want="$(basename "$tarball") $target $cc $cflags $ar $ranlib"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$want" ]; then
    exit 0
fi
work="$out.work"
rm -rf "$work" "$out"
mkdir -p "$work/src" "$work/obj"
tar -xf "$tarball" -C "$work/src" --strip-components=1
# x86's libm: clang's assembler wants the operand size GNU as assumes (filds, 16 bits)
sed -i 's/^\(\s*\)fild\s/\1filds /' "$work"/src/newlib/libm/machine/i386/f_ldexp*.S
echo "build-libc: newlib for $target in $out (about 30 s)"
cd "$work/obj"
if ! { "$work/src/configure" --target="$target" --prefix="$work/install" --disable-multilib \
         --disable-newlib-supplied-syscalls --enable-newlib-nano-malloc \
         --enable-newlib-nano-formatted-io --enable-newlib-reent-small \
         --disable-newlib-fvwrite-in-streamio --disable-newlib-wide-orient --enable-lite-exit \
         --disable-newlib-unbuf-stream-opt --enable-newlib-global-atexit --disable-nls \
         CC_FOR_TARGET="$cc" CFLAGS_FOR_TARGET="-O2 -g $cflags" AR_FOR_TARGET="$ar" \
         RANLIB_FOR_TARGET="$ranlib" >../configure.log 2>&1 \
       && make -j"$(nproc)" all-target-newlib >../make.log 2>&1 \
       && make install-target-newlib >../install.log 2>&1; }; then
    echo "build-libc: failed; see $work/*.log" >&2
    exit 1
fi
mkdir -p "$out/lib"
cp -r "$work/install/$target/include" "$out/include"
cp "$work/install/$target/lib/libc.a" "$work/install/$target/lib/libm.a" "$out/lib/"
rm -rf "$work"
printf '%s' "$want" > "$out/stamp"
