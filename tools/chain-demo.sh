#!/bin/sh
# The D3.3 §2.1 chain on one machine (`make chain`; docs/management.md): a PKI, the Keystore
# Manager, provider-a's Token Generator, the admin server (LwM2M + HTTP), the gateway device
# registered with it over DTLS, and `pipsim admin command` as provider-a's application.
# Every service listens on 127.0.0.1 (port 0: any free one; each ready file gives its URL).
set -eu
PIPSIM=${PIPSIM:-pipsim}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/pipsim-chain.XXXXXX")
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT INT TERM
cd "$DIR"

wait_ready() {   # wait_ready FILE: wait (at most 60 s) for a service's ready file
    i=0
    while [ ! -s "$1" ]; do
        i=$((i + 1)); [ $i -le 600 ] || { echo "chain-demo: no $1 after 60 s:" >&2; cat ./*.log >&2; exit 1; }
        sleep 0.1
    done
}
udp_port() {     # a free UDP port on loopback (CoAP's own ports need one given)
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

echo "== a PKI: services and the application authenticate with certificates (mutual TLS)"
$PIPSIM pki init pki >/dev/null
for s in keystore tg-provider-a admin-server; do $PIPSIM pki issue pki $s --server >/dev/null; done
$PIPSIM pki issue pki provider-a >/dev/null                    # provider-a's application

echo "== the admin server: LwM2M (devices register over DTLS-PSK, D3.3 §3.2) and HTTP"
$PIPSIM admin-server --coap 127.0.0.1:$(udp_port) --psk gateway:gw-id:gw-key-1234 \
    --bind 127.0.0.1:0 --tls pki/admin-server --ready-file admin.ready 2>admin.log &
PIDS="$PIDS $!"
wait_ready admin.ready
COAPS=$(sed -n 1p admin.ready); ADMIN=$(sed -n 2p admin.ready)
echo "   $COAPS  $ADMIN"

echo "== the gateway device, registering with it"
$PIPSIM serve --bind 127.0.0.1:$(udp_port) --psk lc1:123456 --export-keys keys --server "$COAPS" \
    --server-psk gw-id:gw-key-1234 --ready-file device.ready 2>device.log &
PIDS="$PIDS $!"
wait_ready device.ready

echo "== the Keystore Manager (keys encrypted at rest) and provider-a's Token Generator"
PIPSIM_KEYSTORE_PASSPHRASE="demo passphrase, not a secret" $PIPSIM keystore --bind 127.0.0.1:0 \
    --tls pki/keystore --store store --reader tg-provider-a --ready-file keystore.ready \
    2>keystore.log &
PIDS="$PIDS $!"
wait_ready keystore.ready
KEYSTORE=$(cat keystore.ready)
cat >provider-a.toml <<EOF
issuer = "provider-a-server"
key = "keys/provider-a.cose"
audience = "provider-a"
[[grant]]
client = "provider-a"
domain = "provider-a"
devices = ["gateway"]
operations = ["read", "write"]
paths = ["3311/0/5850"]
EOF
$PIPSIM token-generator --bind 127.0.0.1:0 --tls pki/tg-provider-a --keystore "$KEYSTORE" \
    --policy provider-a.toml --ready-file tg.ready 2>tg.log &
PIDS="$PIDS $!"
wait_ready tg.ready
GENERATOR=$(cat tg.ready)
CURL="curl -s --cacert pki/ca.pem --cert pki/provider-a/cert.pem --key pki/provider-a/key.pem"
$CURL -X POST -o /dev/null -w "   POST /keys/provider-a: %{http_code}\n" "$KEYSTORE/keys/provider-a"

CHAIN="--tls pki/provider-a --keystore $KEYSTORE --generator $GENERATOR --admin $ADMIN"
echo "== pipsim admin devices"
$PIPSIM admin devices --tls pki/provider-a --admin "$ADMIN"
echo "== provider-a switches the lamp on: key, ciphered request, token, relay, answer"
$PIPSIM admin command $CHAIN --domain provider-a --device gateway --code write \
    --path 3311/0/5850 --value 1
echo "== and reads it back"
$PIPSIM admin command $CHAIN --domain provider-a --device gateway --code read \
    --path 3311/0/5850 --id 2
echo "== a command its policy does not grant gets no token"
if $PIPSIM admin command $CHAIN --domain provider-a --device gateway --code write \
    --path 32769/0/1 --value 2 --id 3; then
    echo "chain-demo: the generator should have refused" >&2; exit 1
fi
echo "chain-demo: ok"
