"""Datasets: sources, fetching with verification, parsing, preprocessing, HDF5 storage."""
