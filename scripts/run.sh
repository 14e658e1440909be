#!/usr/bin/env bash
# Run the bot. With no BOT_TOKEN and no DATABASE_URL this starts the local sandbox: an embedded
# PostgreSQL, a local Telegram Bot API stand-in and a chat in this terminal.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/bootstrap.sh" ""
exec "$root/.venv/bin/kbjuctl" run "$@"
