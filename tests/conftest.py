"""Shared pytest configuration: real-server fixtures are registered as plugins here."""

pytest_plugins: list[str] = []
