"""Sweeps: many runs of one base spec, on one machine or a Ray cluster.

`plan` reads a sweep file and expands it; `worker` runs one job wherever it executes (and
defines the job and its result); `executors` run the jobs (sequential, a process pool, or
Ray); `store` owns the sweep's folder and files; `parent` its parent MLflow run; `table` the
typed rows, their ranking and their JSON and CSV; `driver` ties them together and reports
what happens as events. Printing is the command's (`core._commands.sweep_cmd`).
"""
