"""Runs of the whole pipeline from the command line: `finefinance run` (ingest, rebuild what
changed, issue and render statements), `finefinance live` (the live cycle) and `finefinance dev`
(the Dagster UI). They execute the jobs of the code location (`finefinance_platform.definitions`)."""
