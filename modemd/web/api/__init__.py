"""The HTTP API (``/api/v1``): JSON over the operations, for other programs, with tokens."""
