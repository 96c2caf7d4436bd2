"""Ways out for an SMS: the channel interface and its drivers (the AT modem, a file)."""
