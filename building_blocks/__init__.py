"""What every Relay agent shares: interfaces, types, networks, utilities."""
