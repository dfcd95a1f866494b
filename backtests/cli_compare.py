"""Placeholder: filled in by the issue that adds these commands."""

commands: list = []
