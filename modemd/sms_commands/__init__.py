"""Alerts by SMS from a registered number: the grammar of the commands and the desk that
answers them, a face over the operations like the CLI and the console."""
