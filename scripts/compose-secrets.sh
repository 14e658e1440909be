#!/usr/bin/env bash
# Make ./secrets/ for docker-compose.yml: a random value for every password and the webhook secret
# (kept when the file exists: run it again after adding a service), and the bot token asked for
# without echo; the operators' alert bot token (another bot) asked for on a terminal, else left empty
# to fill in, as the SMTP password of e-mail alerts (empty: e-mail off). The folder is private to root (700); the files are 644 so the services' own users
# (postgres, the bot's uid 10001, grafana, nobody) can read the ones mounted into them, since a
# bind-mounted file keeps the host's mode. Rotation: remove a file, run this again, docs/operations.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="${1:-$root/secrets}"
install -d -m 700 "$dir"
umask 022

random_secret() {  # 48 hex characters: URL-safe and within Telegram's secret_token alphabet
  od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

for name in webhook_secret postgres_password bot_db_password monitor_db_password grafana_admin_password; do
  if [ ! -s "$dir/$name" ]; then
    random_secret > "$dir/$name.tmp" && mv "$dir/$name.tmp" "$dir/$name"
    echo "made $dir/$name" >&2
  fi
  chmod 644 "$dir/$name"
done

if [ ! -s "$dir/bot_token" ]; then
  if [ -t 0 ]; then
    read -rsp "Bot token from @BotFather (not shown): " token; echo >&2
  else
    read -r token || true  # piped in: `compose-secrets.sh < token-file`
  fi
  if [ -z "${token:-}" ]; then
    echo "No token given: write it into $dir/bot_token (one line), then run this again." >&2
    exit 2
  fi
  printf '%s\n' "$token" > "$dir/bot_token"
  echo "made $dir/bot_token" >&2
fi
chmod 644 "$dir/bot_token"

# Alertmanager's: the operators' own bot (not the product bot: its own @BotFather token) and the SMTP
# password. An empty file is valid: alerts then fail to reach Telegram (Alertmanager logs why) until
# the token is written there.
if [ ! -e "$dir/alertmanager_telegram_token" ]; then
  alert_token=""
  if [ -t 0 ]; then
    read -rsp "Token of the operators' alert bot, another bot than the above (empty: later): " alert_token; echo >&2
  fi
  printf '%s' "${alert_token:+$alert_token
}" > "$dir/alertmanager_telegram_token"
  [ -n "$alert_token" ] || echo "made $dir/alertmanager_telegram_token empty: write the alert bot's token there" >&2
fi
[ -e "$dir/alertmanager_smtp_password" ] || : > "$dir/alertmanager_smtp_password"
chmod 644 "$dir/alertmanager_telegram_token" "$dir/alertmanager_smtp_password"
echo "Secrets are ready in $dir." >&2
