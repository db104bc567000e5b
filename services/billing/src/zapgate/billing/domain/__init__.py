"""Billing rules: money, plans, the subscription lifecycle, entitlements, PIX codes (no I/O)."""
