#!/bin/sh
# certbot --deploy-hook for HAProxy: join the renewed certificate chain and its key into the one PEM
# that haproxy.cfg's KBJU_CERT names, readable by root only, then reload HAProxy (no downtime).
set -eu
target="${KBJU_CERT:-/etc/haproxy/certs/kbju.pem}"
lineage="${RENEWED_LINEAGE:?certbot sets RENEWED_LINEAGE for a deploy hook}"
umask 077
mkdir -p "$(dirname "$target")"
cat "$lineage/fullchain.pem" "$lineage/privkey.pem" > "$target.new"
mv "$target.new" "$target"
if command -v systemctl >/dev/null 2>&1; then
    systemctl reload haproxy
fi
