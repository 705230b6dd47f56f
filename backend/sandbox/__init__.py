"""Local stand-ins for outside systems: their real wire formats, served on loopback."""
