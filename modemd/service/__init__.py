"""The daemon's lifecycle and its periodic work: wiring, supervision, notices, metrics."""
