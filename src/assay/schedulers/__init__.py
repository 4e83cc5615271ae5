"""Schedulers turn a job into processes (direct) or a batch job, and report how it ended."""

from __future__ import annotations

from assay.schedulers.base import JobOutcome, JobResources, JobSpec, JobState, Scheduler

__all__ = ["JobOutcome", "JobResources", "JobSpec", "JobState", "Scheduler"]
