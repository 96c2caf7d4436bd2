"""modemd: a self-hosted SMS alert engine driving a USB modem over AT commands."""

__version__ = "0.1.0"
