"""Procure-to-pay's clients and configuration."""
