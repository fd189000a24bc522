"""A stated stochastic world behind the Executor protocol: compare schedules without Docker or a model."""
