"""Data: C-MAPSS itself and the protocol every model shares.

The files and their pinned checksums (``cmapss``), finding or fetching them (``fetch``), the
hashed protocol card that turns raw files into prepared engine sets (``protocol``), validation
engines cut the way test engines are (``validation``), the scores (``scoring``) and a tiny
synthetic data set for tests (``synthetic``). Also the package data: ``published_results.csv``.
"""
