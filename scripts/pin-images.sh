#!/usr/bin/env bash
# Pin every third-party image to the digest its tag points to now: `name:tag` (or an older
# `name:tag@sha256:...`) becomes `name:tag@sha256:<current>`, in the Dockerfile's base image ARGs,
# docker-compose.yml, deploy/k8s and the GitHub workflows' containers. The tag stays for people
# and for Renovate, which keeps the digests moving afterwards (renovate.json).
#   ./scripts/pin-images.sh            resolve and rewrite (needs the registries: crane or docker buildx)
#   ./scripts/pin-images.sh --check    offline: list the images without a digest, exit 1 if any
#   ./scripts/pin-images.sh [--check] DIR    the same on another checkout (tests use a copy)
# Our own image (kbju-bot) is not pinned here: CI deploys it by the digest it just pushed.
set -euo pipefail
check=false
if [ "${1:-}" = "--check" ]; then check=true; shift; fi
root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)
cd "$root"

files=()
while IFS= read -r -d '' f; do files+=("$f"); done < <(
  find Dockerfile docker-compose.yml deploy/k8s .github/workflows -type f \
    \( -name Dockerfile -o -name '*.yml' -o -name '*.yaml' \) -print0 2>/dev/null | sort -z)

# Every image reference: ARG ..._IMAGE=ref, or image:/imageName:/container: ref in YAML.
refs() {
  {
    sed -nE 's/^ARG [A-Z_]*IMAGE=([^[:space:]]+).*/\1/p' Dockerfile
    sed -nE 's/^[[:space:]-]*(image|imageName|container):[[:space:]]*"?([^"[:space:]#]+)"?.*/\2/p' "${files[@]}"
  } | grep -vE '^\$|\$\{|^kbju-bot(:|$)|/kbju-bot(:|@|$)' | grep ':' | sort -u
}

resolve() {  # tag reference -> sha256:... of what it points to now (the multi-platform index)
  if command -v crane >/dev/null 2>&1; then
    crane digest "$1"
  elif command -v docker >/dev/null 2>&1; then
    docker buildx imagetools inspect "$1" --format '{{json .Manifest}}' | sed -nE 's/.*"digest":"(sha256:[0-9a-f]{64})".*/\1/p' | head -1
  else
    echo "Neither crane nor docker is installed: cannot ask the registries for digests." >&2
    return 1
  fi
}

missing=0
while IFS= read -r ref; do
  [ -n "$ref" ] || continue
  tagged=${ref%@*}
  if $check; then
    if [ "$tagged" = "$ref" ]; then echo "not pinned by digest: $ref" >&2; missing=$((missing + 1)); fi
    continue
  fi
  digest=$(resolve "$tagged")
  if ! [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
    echo "could not resolve $tagged (got: ${digest:-nothing})" >&2
    exit 1
  fi
  pinned="$tagged@$digest"
  if [ "$pinned" != "$ref" ]; then
    # Only whole references: followed by a quote, space or end of line.
    for f in Dockerfile "${files[@]}"; do
      sed -i -E "s#([=:[:space:]\"])$(printf '%s' "$ref" | sed 's/[.[\*^$/#]/\\&/g')([\"[:space:]]|\$)#\1$pinned\2#g" "$f"
    done
    echo "$tagged -> $digest" >&2
  fi
done < <(refs)

if $check; then
  if [ "$missing" -gt 0 ]; then
    echo "$missing image(s) without a digest: run ./scripts/pin-images.sh where the registries answer." >&2
    exit 1
  fi
  echo "Every image is pinned by digest." >&2
fi
