#!/usr/bin/env bash
# Create ./secrets for docker-compose.yaml: random passwords (never empty), the store and broker
# URLs that carry them, an Ed25519 signing key, and a Slack webhook placeholder to replace.
# Existing files are kept, so re-running never rotates a password under a running stack.
set -euo pipefail
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
rand() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
[ -s secrets/postgres-password ] || rand > secrets/postgres-password
[ -s secrets/redis-password ] || rand > secrets/redis-password
[ -s secrets/store-url ] || \
  echo "postgresql+psycopg://auditor:$(cat secrets/postgres-password)@postgres:5432/auditor" > secrets/store-url
[ -s secrets/broker-url ] || \
  echo "redis://:$(cat secrets/redis-password)@redis:6379/0" > secrets/broker-url
[ -s secrets/slack-webhook ] || echo "https://hooks.slack.com/services/REPLACE/ME/NOW" > secrets/slack-webhook
if [ ! -s secrets/auditor-signing.key ]; then
  openssl genpkey -algorithm ed25519 -out secrets/auditor-signing.key
fi
echo "secrets written to $(pwd)/secrets (mode 0600); replace secrets/slack-webhook with your webhook"
