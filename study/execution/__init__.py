"""Execution: running trials and writing their rows.

One trial (fit, score, row: ``trial``), the executors that run trials in-process, in worker
processes or on Ray (``executors``), the study runner (data, trials, rows, tables: ``runner``)
and optional row sinks such as MLflow (``sinks``).
"""
