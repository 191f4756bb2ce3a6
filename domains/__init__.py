"""ODSI domains on Pip partitions: components that run as partitions, management commands,
the runtime and the default smart-home gateway image (docs/domains.md)."""
