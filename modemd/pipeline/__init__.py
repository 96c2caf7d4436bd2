"""The alert pipeline: alert files, spool intake, the durable outbox, SIM windows, dispatch."""
