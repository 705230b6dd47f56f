"""Clients of outside systems. A connector talks to one system and never touches the DB."""
