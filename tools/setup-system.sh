#!/bin/sh
# Debian packages the Python setup and the tests need (idempotent; apt-get needs root):
#  * autoconf, automake, libtool: DTLSSocket (aiocoap's DTLS) builds tinydtls from source;
#  * libcoap3-bin: libcoap's coap-client-openssl and coap-rd, the outside clients the network
#    tests drive (docs/network.md);
#  * curl: the outside client the management tests drive (docs/management.md).
set -eu
missing=""
command -v autoreconf >/dev/null 2>&1 || missing="$missing autoconf"
command -v automake >/dev/null 2>&1 || missing="$missing automake"
command -v libtoolize >/dev/null 2>&1 || missing="$missing libtool"
command -v coap-client-openssl >/dev/null 2>&1 || missing="$missing libcoap3-bin"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
if [ -n "$missing" ]; then
    echo "setup-system: installing$missing"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi
