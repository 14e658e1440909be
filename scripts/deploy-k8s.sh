#!/usr/bin/env bash
# Deploy an overlay of deploy/k8s with our image pinned by digest, and wait for the rollout.
#   ./scripts/deploy-k8s.sh staging ghcr.io/OWNER/kbju-bot@sha256:...             apply (kubectl's context)
#   ./scripts/deploy-k8s.sh --render production ghcr.io/OWNER/kbju-bot@sha256:...  print the manifests only
# Used by the CI deploy jobs and the rollback workflow (.github/workflows/); a rollback is this same
# command with an earlier image. New pods migrate the schema before they serve (an init container).
set -euo pipefail
render=false
if [ "${1:-}" = "--render" ]; then render=true; shift; fi
if [ $# -ne 2 ]; then
  echo "usage: $0 [--render] staging|production IMAGE@sha256:DIGEST" >&2
  exit 2
fi
overlay=$1 image=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ ! -f "$root/deploy/k8s/overlays/$overlay/kustomization.yaml" ]; then
  echo "no such overlay: $overlay (deploy/k8s/overlays/)" >&2
  exit 2
fi
if ! [[ "$image" =~ ^([a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+)@(sha256:[0-9a-f]{64})$ ]]; then
  echo "expected an image by digest, like ghcr.io/owner/kbju-bot@sha256:<64 hex>: got $image" >&2
  exit 2
fi
name=${BASH_REMATCH[1]} digest=${BASH_REMATCH[3]}

# A kustomization on top of the overlay that only swaps our image for the digest (beside the
# overlays: kustomize takes relative paths only).
work=$(mktemp -d "$root/deploy/k8s/.deploy.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../overlays/$overlay
images:
  - name: ghcr.io/kbju-platform/kbju-bot
    newName: $name
    digest: $digest
YAML

if $render; then
  kubectl kustomize "$work"
  exit 0
fi
namespace=$(kubectl kustomize "$work" | sed -nE '/^kind: Namespace$/,/^---/ s/^  name: (.*)$/\1/p' | head -1)
kubectl apply -k "$work"
kubectl -n "$namespace" rollout status deployment/kbju-bot --timeout=15m
kubectl -n "$namespace" get deployment kbju-bot -o jsonpath='{.spec.template.spec.containers[0].image}{"\n"}'
