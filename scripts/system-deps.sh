#!/usr/bin/env bash
# Install the Debian packages the test suite drives, when any is missing (needs root + apt).
set -euo pipefail
declare -A need=(
  [promtool]=prometheus
  [prometheus]=prometheus
  [prometheus-postgres-exporter]=prometheus-postgres-exporter
  [prometheus-alertmanager]=prometheus-alertmanager
  [amtool]=prometheus-alertmanager
  [prometheus-blackbox-exporter]=prometheus-blackbox-exporter
  [prometheus-node-exporter]=prometheus-node-exporter
  [pgloader]=pgloader
  [docker-compose]=docker-compose
  [etcd]=etcd-server
  [patroni]=patroni
  [patronictl]=patroni
  [pgbackrest]=pgbackrest
  [stunnel4]=stunnel4
  [haproxy]=haproxy
  [openssl]=openssl
  [shellcheck]=shellcheck
  [nginx]=nginx
  [nft]=nftables
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${need[$cmd]}")
done
# A PostgreSQL server built with OpenSSL, for the TLS tests (tests/pg_tls.py starts its own).
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0
pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing tools for the tests: $pkgs(install them with apt-get as root)." >&2
  exit 0
fi
echo "Installing Debian packages for the tests: $pkgs" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
