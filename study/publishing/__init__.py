"""Publishing: the report, figures and posts, built only from a run's rows.

The report writer (``report``), figures (``figures``), which rows a reader sees and under which
name (``views``), value and table markers that keep prose numbers true (``markers``) and the
budget curves (``curves``). Nothing in the harness below imports this layer.
"""
