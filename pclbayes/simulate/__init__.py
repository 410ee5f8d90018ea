"""Simulation studies (SBC, model-based design evaluation) on one machine or a Dask cluster."""
