#!/usr/bin/env bash
# The first hour of a rag-fed operator and site admin, on one machine: docs/walkthrough.md explains each
# step. Run it from the repository with the virtualenv active (`make setup && source .venv/bin/activate`):
#
#   bash scripts/walkthrough.sh                # plain HTTP (envelopes are sealed end to end anyway)
#   TLS=1 bash scripts/walkthrough.sh          # HTTPS everywhere, with a private CA made here by openssl
#   KEEP_RUNNING=1 bash scripts/walkthrough.sh # leave the services up until Ctrl-C
#
# Everything goes under RAGFED_DATA_DIR (default ./data); the ports can be changed with GATEWAY_PORT,
# NORTH_PORT and SOUTH_PORT. The services it starts are stopped when it ends.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAMPLES="$REPO/rag_fed/samples/federation"
export RAGFED_DATA_DIR="${RAGFED_DATA_DIR:-$PWD/data}"
GATEWAY_PORT="${GATEWAY_PORT:-8000}"
NORTH_PORT="${NORTH_PORT:-8101}"
SOUTH_PORT="${SOUTH_PORT:-8102}"
TLS="${TLS:-0}"
LOGS="$RAGFED_DATA_DIR/logs"
mkdir -p "$LOGS"
step() { printf '\n== %s\n' "$*"; }

# -- 1. The gateway first: its home folder and key pair (no model, no network) -------------------------
step "1. gateway init"
ragfed gateway init
GATEWAY_KEY="$RAGFED_DATA_DIR/gateway/keys/public.key"   # the file every site service needs

# -- 2. API keys: an engineer asks questions, an operator watches the sites ----------------------------
step "2. API keys"
ENGINEER_KEY="$(ragfed keys create --role engineer --label 'first engineer' | tail -n 1)"
OPERATOR_KEY="$(ragfed keys create --role operator --label 'first operator' | tail -n 1)"
echo "engineer key: $ENGINEER_KEY"

# -- 3. The sites: a data folder and a key pair each, and a key for each site's admin ------------------
step "3. sites"
ragfed site init plant-north
ragfed site init plant-south
# A site-admin key reaches its site from the gateway (sealed, pushed at start and every 10 s).
NORTH_ADMIN_KEY="$(ragfed keys create --role site-admin --site plant-north | tail -n 1)"
SOUTH_ADMIN_KEY="$(ragfed keys create --role site-admin --site plant-south | tail -n 1)"

# -- 4. TLS (optional): a private CA and one certificate per service ------------------------------------
SCHEME=http
NORTH_TLS=() SOUTH_TLS=() GATEWAY_TLS=() CURL_TLS=()
if [ "$TLS" = 1 ]; then
  step "4. TLS certificates"
  CERTS="$RAGFED_DATA_DIR/certs"
  mkdir -p "$CERTS"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=rag-fed walkthrough CA" \
    -keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" 2>/dev/null
  for name in gateway plant-north plant-south; do
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$CERTS/$name.key" -out "$CERTS/$name.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$CERTS/$name.ext"
    openssl x509 -req -in "$CERTS/$name.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -CAcreateserial \
      -days 30 -extfile "$CERTS/$name.ext" -out "$CERTS/$name.pem" 2>/dev/null
  done
  SCHEME=https
  NORTH_TLS=(--tls-cert "$CERTS/plant-north.pem" --tls-key "$CERTS/plant-north.key")
  SOUTH_TLS=(--tls-cert "$CERTS/plant-south.pem" --tls-key "$CERTS/plant-south.key")
  GATEWAY_TLS=(--tls-cert "$CERTS/gateway.pem" --tls-key "$CERTS/gateway.key" --tls-ca "$CERTS/ca.pem")
  CURL_TLS=(--cacert "$CERTS/ca.pem")
  export SSL_CERT_FILE="$CERTS/ca.pem"   # what the openai client below trusts
fi
GATEWAY="$SCHEME://127.0.0.1:$GATEWAY_PORT"
NORTH="$SCHEME://127.0.0.1:$NORTH_PORT"
SOUTH="$SCHEME://127.0.0.1:$SOUTH_PORT"

# -- 5. Registration: the gateway learns each site's URL and public key ---------------------------------
step "5. register the sites"
ragfed federation register-site plant-north --url "$NORTH" \
  --public-key "@$RAGFED_DATA_DIR/plant-north/keys/public.key"
ragfed federation register-site plant-south --url "$SOUTH" \
  --public-key "@$RAGFED_DATA_DIR/plant-south/keys/public.key"

# -- 6. Serve: two site services and the gateway (in the background here; logs in $LOGS) ----------------
step "6. serve"
PIDS=()
stop_all() {
  if [ "${#PIDS[@]}" -gt 0 ]; then
    kill "${PIDS[@]}" 2>/dev/null || true
    wait "${PIDS[@]}" 2>/dev/null || true
  fi
  echo "stopped the services"
}
trap stop_all EXIT
ragfed serve site --site plant-north --port "$NORTH_PORT" --gateway-key "$GATEWAY_KEY" --egress snippets \
  "${NORTH_TLS[@]}" > "$LOGS/plant-north.log" 2>&1 &
PIDS+=($!)
ragfed serve site --site plant-south --port "$SOUTH_PORT" --gateway-key "$GATEWAY_KEY" --egress snippets \
  "${SOUTH_TLS[@]}" > "$LOGS/plant-south.log" 2>&1 &
PIDS+=($!)
ragfed serve gateway --port "$GATEWAY_PORT" "${GATEWAY_TLS[@]}" > "$LOGS/gateway.log" 2>&1 &
PIDS+=($!)
wait_healthy() {  # URL LOG: poll /health for up to five minutes (each service loads its embedder first)
  for _ in $(seq 300); do
    if curl -sf "${CURL_TLS[@]}" "$1/health" > /dev/null; then echo "ready: $1"; return 0; fi
    sleep 1
  done
  echo "not ready after 300 s: $1; see $2" >&2
  tail -n 20 "$2" >&2
  return 1
}
wait_healthy "$NORTH" "$LOGS/plant-north.log"
wait_healthy "$SOUTH" "$LOGS/plant-south.log"
wait_healthy "$GATEWAY" "$LOGS/gateway.log"

# -- 7. Ingest while the sites serve: through each site's admin API (the CLI would wait for the lock) ---
step "7. ingest through the site admin API"
wait_admin_key() {  # SITE_URL ADMIN_KEY: the gateway sends each site its admin keys at start, then every 10 s
  for _ in $(seq 30); do
    if curl -sf "${CURL_TLS[@]}" -H "Authorization: Bearer $2" "$1/v1/admin/documents" > /dev/null; then return 0; fi
    sleep 1
  done
  echo "the site at $1 does not know the admin key after 30 s: is the gateway running?" >&2
  return 1
}
upload() {  # SITE_URL ADMIN_KEY FILE
  curl -sf "${CURL_TLS[@]}" -H "Authorization: Bearer $2" -F "file=@$3" "$1/v1/admin/documents"
  echo
}
wait_admin_key "$NORTH" "$NORTH_ADMIN_KEY"
wait_admin_key "$SOUTH" "$SOUTH_ADMIN_KEY"
for file in "$SAMPLES"/plant-north/manuals/* "$SAMPLES"/plant-north/logs/*; do
  upload "$NORTH" "$NORTH_ADMIN_KEY" "$file"
done
for file in "$SAMPLES"/plant-south/manuals/* "$SAMPLES"/plant-south/logs/*; do
  upload "$SOUTH" "$SOUTH_ADMIN_KEY" "$file"
done
curl -sf "${CURL_TLS[@]}" -H "Authorization: Bearer $OPERATOR_KEY" "$GATEWAY/v1/sites" | python -m json.tool

# -- 8. A first question: curl, then the openai client --------------------------------------------------
step "8. ask with curl"
QUESTION="The slurry pump gland is leaking. What should I check and how do I fix it?"
curl -sf "${CURL_TLS[@]}" "$GATEWAY/v1/chat/completions" \
  -H "Authorization: Bearer $ENGINEER_KEY" -H 'Content-Type: application/json' \
  -d "{\"model\": \"rag-fed\", \"messages\": [{\"role\": \"user\", \"content\": \"$QUESTION\"}]}" \
  | python -c 'import json, sys; print(json.load(sys.stdin)["choices"][0]["message"]["content"])'

step "8. ask with the openai client"
GATEWAY="$GATEWAY" ENGINEER_KEY="$ENGINEER_KEY" QUESTION="$QUESTION" python - <<'PY'
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["GATEWAY"] + "/v1", api_key=os.environ["ENGINEER_KEY"])
reply = client.chat.completions.create(
    model="rag-fed", messages=[{"role": "user", "content": os.environ["QUESTION"]}]
)
print(reply.choices[0].message.content)
for site in reply.model_extra["rag_fed"]["sites"]:
    print(f"  {site['site_id']}: {site['status']} in {site['latency_ms']:.0f} ms")
PY

if [ "${KEEP_RUNNING:-0}" = 1 ]; then
  step "running: gateway $GATEWAY, API docs $GATEWAY/docs; Ctrl-C stops everything"
  wait
fi
