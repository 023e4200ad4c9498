"""Prompt templates shipped with citebot; loaded and validated by `bot.answering.prompts`."""
