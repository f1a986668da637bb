"""Runs: the SQLite run store, its schema and export, the job queue, process isolation, sweeps."""
