"""How the bot talks to Telegram: the Bot API HTTP backend, the sender's rate limits and retries,
the polling loop and the webhook server. Nothing here knows the bot's flows."""
