"""The codec endpoint: decrypts payloads for the Temporal Web UI and the `temporal` CLI."""
