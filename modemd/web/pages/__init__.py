"""One module per page group; each a FastAPI router of thin views over modemd.operations."""
