"""Pure logic: no apache_beam, no I/O. Tested without a pipeline."""
