"""Running cases: the pipeline of stages, the runner, the session."""
