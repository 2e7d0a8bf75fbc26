"""The opt-out registry: source folders, validation, snapshots and remote sync."""
