"""Scheduled jobs (APScheduler) of `run --daemon`: thin calls into edi_engine."""
