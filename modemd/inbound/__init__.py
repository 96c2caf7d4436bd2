"""Inbound SMS: keywords (STOP, ADHESION, AIDE), replies, and what reaches the operators."""
