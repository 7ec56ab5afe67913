#!/bin/sh
# azd postdeploy hook: once keyVaultEvents exists, provision again with the Event Grid
# subscription from each Key Vault to it. Later runs find the setting on and do nothing.
set -eu

if [ "$(azd env get-value SUBSCRIBE_KEY_VAULT_EVENTS 2>/dev/null || true)" = "true" ]; then
  exit 0
fi

echo "Subscribing keyVaultEvents to the Key Vault events (second provision)..."
azd env set SUBSCRIBE_KEY_VAULT_EVENTS true
azd provision --no-prompt
