#!/bin/sh
# Debian packages the Python setup and the tests need (idempotent; apt-get needs root):
#  * autoconf, automake, libtool: DTLSSocket (aiocoap's DTLS) builds tinydtls from source;
#  * libcoap3-bin: libcoap's coap-client-openssl and coap-rd, the outside clients the network
#    tests drive (docs/network.md);
#  * curl: the outside client the management tests drive (docs/management.md);
#  * qemu-user: qemu-arm and qemu-i386, the user-mode emulators `make bench` compares the
#    machine with (bench/README.md "Real programs");
#  * swtpm, swtpm-tools: the TPM 2.0 simulator the TPM root of trust is tested and benched on;
#    libtss2-dev, pkg-config: tpm2-pytss (pipsim.trust.rot_tpm) builds against the TSS from source,
#    PyPI has no wheel of it (docs/attestation.md "Roots of trust");
#  * gdb-multiarch: the debugger `pipsim run IMAGE --gdb` serves and its tests drive
#    (docs/debugging.md "Debugging with GDB").
set -eu
missing=""
command -v autoreconf >/dev/null 2>&1 || missing="$missing autoconf"
command -v automake >/dev/null 2>&1 || missing="$missing automake"
command -v libtoolize >/dev/null 2>&1 || missing="$missing libtool"
command -v coap-client-openssl >/dev/null 2>&1 || missing="$missing libcoap3-bin"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v qemu-arm >/dev/null 2>&1 && command -v qemu-i386 >/dev/null 2>&1 \
    || missing="$missing qemu-user"
command -v swtpm >/dev/null 2>&1 || missing="$missing swtpm swtpm-tools"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
pkg-config --exists tss2-esys tss2-tcti-swtpm 2>/dev/null || missing="$missing libtss2-dev"
command -v gdb-multiarch >/dev/null 2>&1 || missing="$missing gdb-multiarch"
if [ -n "$missing" ]; then
    echo "setup-system: installing$missing"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi
