"""Development and test tooling: embedded servers, the `make run` stack, demo data."""
