"""The incident console's kernel: find processes by business terms, write and verify signed
repair plans, and start and follow the repair job (issue 15)."""
