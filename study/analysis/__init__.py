"""Analysis: questions asked of finished runs.

Is a difference beyond the test engines' noise (``compare``)? Where would a new run's models
rank in a committed study (``rank``)? What do models combined with validation-chosen weights
score (``ensemble``)?
"""
