#!/bin/sh
# Print the path of newlib's source tarball (the C library of the SDK, docs/sdk.md): Debian's
# newlib-source in /usr/src/newlib, else the same package fetched without root into DIR
# (apt-get download, dpkg-deb -x; once). Prints nothing, and one line on stderr saying what
# is missing, when neither works.
#   tools/newlib-source.sh DIR        ($NEWLIB_SOURCE_DIR: another place than /usr/src/newlib)
set -u
dir=$1
for tarball in "${NEWLIB_SOURCE_DIR:-/usr/src/newlib}"/newlib-*.tar.* \
               "$dir"/usr/src/newlib/newlib-*.tar.*; do
    [ -f "$tarball" ] && { echo "$tarball"; exit 0; }
done
if command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
    mkdir -p "$dir"
    if (cd "$dir" && apt-get download -q newlib-source >/dev/null 2>&1) \
       && dpkg-deb -x "$dir"/newlib-source_*.deb "$dir" 2>/dev/null; then
        rm -f "$dir"/newlib-source_*.deb
        for tarball in "$dir"/usr/src/newlib/newlib-*.tar.*; do
            [ -f "$tarball" ] && { echo "$tarball"; exit 0; }
        done
    fi
fi
echo "firmware: no newlib source (Debian's newlib-source; apt-get download failed): the C" \
     "library, libpip's newlib system calls and pipsim cc's libc are skipped" >&2
