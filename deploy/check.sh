#!/usr/bin/env bash
# Lint what we ship to run auditor: the Dockerfile, every Kubernetes overlay as rendered, the
# Terraform, the IAM policies and the compose stack. Zero failures allowed; every skip is written
# next to what it skips, with its reason. Tools: requirements/tools.lock (`make lint-deploy`),
# plus kubectl, terraform and docker-compose from the machine (.ci/run installs docker-compose).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
checkov_() { checkov --quiet --compact --skip-download "$@"; }

echo "== hadolint Dockerfile"
hadolint Dockerfile

echo "== kubectl kustomize | kubernetes-validate --strict"
mkdir -p "$out/k8s"
for overlay in deploy/kubernetes/overlays/*/; do
  name=$(basename "$overlay")
  kubectl kustomize "$overlay" > "$out/k8s/$name.yaml"
  # the Prometheus Operator CRDs (ServiceMonitor, PrometheusRule) have no built-in schema
  kubernetes-validate --strict --quiet "$out/k8s/$name.yaml" 2>&1 \
    | { grep -v "Couldn't find schema for kind \(ServiceMonitor\|PrometheusRule\) " || true; } \
    | tee "$out/k8s/$name.validate"
  if [ -s "$out/k8s/$name.validate" ]; then echo "kubernetes-validate: $name fails"; exit 1; fi
done

echo "== checkov (Dockerfile, rendered manifests, Terraform)"
checkov_ -f Dockerfile --framework dockerfile
checkov_ -d "$out/k8s" --framework kubernetes
checkov_ -d deploy/terraform --framework terraform

echo "== parliament (no finding above LOW)"
python3 deploy/iam/render.py "$out/iam" >/dev/null
for policy in "$out"/iam/*.json; do
  echo "-- $(basename "$policy")"
  parliament --minimum_severity MEDIUM < "$policy"
done

echo "== terraform fmt -check"
terraform fmt -check -recursive deploy/terraform

echo "== docker-compose config"
cp -r deploy/compose "$out/compose"
rm -rf "$out/compose/secrets"
bash "$out/compose/init-secrets.sh" >/dev/null
(cd "$out/compose" && docker-compose -f docker-compose.yaml config -q)

echo "deploy checks passed"
