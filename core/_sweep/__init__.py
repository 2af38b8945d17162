"""Sweeps: many runs of one base spec, on one machine or a Ray cluster.

`plan` reads a sweep file and expands it; `executors` run the expanded specs
(sequential, a process pool, or Ray); `driver` ties them together: the sweep's
folder, its parent MLflow run, failures shown as they happen, the ranked table,
and resume.
"""
