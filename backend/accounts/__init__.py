"""Accounts: users, roles, organisations and their tokens."""
