"""The serving copy: a read-only copy of the marts published atomically after each materialization
(`publish.py`, its asset in `assets.py`), and the one way readers reach the marts over either
warehouse (`marts.open_marts`), so they never block (or are blocked by) the pipeline.
"""
