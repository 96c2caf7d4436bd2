"""The use cases every face calls (CLI, console, API, SMS commands): typed inputs, typed
results, structured errors, and the actor recorded in the audit trail. Nothing here prints."""
