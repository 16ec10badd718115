"""Procure-to-pay's kernel side: its policy from configuration."""
