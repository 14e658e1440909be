"""The bot's data layer: the asyncpg pool and one repository module per table group.

This package is the only place in bot/ that imports asyncpg. Repository functions take a
connection and return plain frozen dataclasses; SQL lives in named constants.
"""
