"""Monocular 3D human pose: 2D-to-3D lifting, relative-depth supervision and metric heatmap estimation."""

__version__ = "0.1.0"
