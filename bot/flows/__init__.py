"""The bot's conversations as a small state machine over the `conversations` row of each chat."""
