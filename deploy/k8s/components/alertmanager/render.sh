#!/bin/sh
# Renders Alertmanager's configuration: render.sh SOURCE_DIR OUT_DIR
#
# SOURCE_DIR holds alertmanager.yml (with ${ALERT_*} placeholders) and templates/; OUT_DIR gets the
# configuration Alertmanager runs with, the templates beside it and settings.tmpl (the runbook
# link). Alertmanager reads no environment variables itself, so compose and Kubernetes run this
# before it (POSIX sh and sed: the Alertmanager image's busybox has both); the test suite runs the
# very same script. Only settings are filled in, never a secret (those stay files). Each value is
# checked first: a bad one stops here with its name, not as a YAML error inside Alertmanager.
#   ALERT_TELEGRAM_CHAT_ID   the operators' chat (required): a group's -100..., or a person's id
#   ALERT_LANGUAGE           ru (default) or en: the language of the messages' frame
#   ALERT_RUNBOOK_URL        where docs/monitoring.md is read; each alert links to its heading
#   ALERT_TELEGRAM_API_URL   the Bot API (default https://api.telegram.org)
#   ALERT_EMAIL_TO           e-mail alerts too, to this address (optional); then also
#   ALERT_EMAIL_FROM, ALERT_SMTP_SMARTHOST (host:port), ALERT_SMTP_USERNAME
set -eu
src=${1:?usage: render.sh SOURCE_DIR OUT_DIR}
out=${2:?usage: render.sh SOURCE_DIR OUT_DIR}

fail() { echo "alertmanager settings: $*" >&2; exit 2; }

chat=${ALERT_TELEGRAM_CHAT_ID:-}
lang=${ALERT_LANGUAGE:-ru}
runbook=${ALERT_RUNBOOK_URL:-https://github.com/kbju-platform/kbju-bot/blob/main/docs/monitoring.md}
api=${ALERT_TELEGRAM_API_URL:-https://api.telegram.org}
email_to=${ALERT_EMAIL_TO:-}
email_from=${ALERT_EMAIL_FROM:-}
smarthost=${ALERT_SMTP_SMARTHOST:-}
smtp_user=${ALERT_SMTP_USERNAME:-}

case $chat in
  ''|-|*[!0-9-]*|?*-*) fail "ALERT_TELEGRAM_CHAT_ID must be a Telegram chat id (digits, a leading minus for a group), not '$chat'" ;;
esac
case $lang in ru|en) ;; *) fail "ALERT_LANGUAGE must be ru or en, not '$lang'" ;; esac
url_ok() {  # http(s), and none of the characters that would end a YAML or template string
  case $2 in
    http://?*|https://?*) ;;
    *) fail "$1 must be an http(s) URL, not '$2'" ;;
  esac
  case $2 in *[\ \'\"\`\\\|\&\{\}\<\>]*) fail "$1 has a character not allowed in a URL here: '$2'" ;; esac
}
url_ok ALERT_RUNBOOK_URL "$runbook"
url_ok ALERT_TELEGRAM_API_URL "$api"
plain_ok() {
  case $2 in *[!A-Za-z0-9@._+:-]*) fail "$1 has a character not allowed here: '$2'" ;; esac
}
if [ -n "$email_to" ]; then
  for pair in "ALERT_EMAIL_TO=$email_to" "ALERT_EMAIL_FROM=$email_from" "ALERT_SMTP_SMARTHOST=$smarthost"; do
    [ -n "${pair#*=}" ] || fail "${pair%%=*} is required with ALERT_EMAIL_TO"
  done
  plain_ok ALERT_EMAIL_TO "$email_to"
  plain_ok ALERT_EMAIL_FROM "$email_from"
  plain_ok ALERT_SMTP_SMARTHOST "$smarthost"
  plain_ok ALERT_SMTP_USERNAME "$smtp_user"
  email='/# @email-begin/d;/# @email-end/d'       # keep the parts, drop the markers
else
  email='/# @email-begin/,/# @email-end/d'         # drop the parts
fi

mkdir -p "$out/templates"
cp "$src"/templates/*.tmpl "$out/templates/"
printf '{{ define "kbju.runbook_url" }}%s{{ end }}\n' "$runbook" > "$out/templates/settings.tmpl"
sed -e "$email" \
    -e "s|\${ALERT_TELEGRAM_CHAT_ID}|$chat|g" \
    -e "s|\${ALERT_LANGUAGE}|$lang|g" \
    -e "s|\${ALERT_TELEGRAM_API_URL}|$api|g" \
    -e "s|\${ALERT_EMAIL_TO}|$email_to|g" \
    -e "s|\${ALERT_EMAIL_FROM}|$email_from|g" \
    -e "s|\${ALERT_SMTP_SMARTHOST}|$smarthost|g" \
    -e "s|\${ALERT_SMTP_USERNAME}|$smtp_user|g" \
    "$src/alertmanager.yml" > "$out/alertmanager.yml.tmp"
# shellcheck disable=SC2016  # a literal ${ALERT_: a placeholder sed did not know
if grep -q '\${ALERT_' "$out/alertmanager.yml.tmp"; then
  fail "a placeholder is left unfilled: $(grep -o '\${ALERT_[A-Z_]*}' "$out/alertmanager.yml.tmp" | head -1)"
fi
mv "$out/alertmanager.yml.tmp" "$out/alertmanager.yml"
echo "alertmanager configuration rendered into $out (chat $chat, language $lang, e-mail ${email_to:-off})" >&2
