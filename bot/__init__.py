"""The KBJU Telegram bot."""
