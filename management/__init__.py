"""The management side of ODSI, off the device: docs/management.md."""
