"""Planted faults, negative controls, and the generator of docs/planted-faults.md."""
