"""Scheduled jobs (APScheduler): thin calls into edi_engine. The daemon of this version
polls with `edi_engine.runner.run_daemon`; scheduled status flows, the monthly report and
retention arrive here with their issues."""
