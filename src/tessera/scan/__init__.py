"""Bulk scanning: back-scans of folders and manifests (locally or on Ray) and retro-hunt.

``runner.Scanner`` runs a job over a ``source.ScanSource`` on a backend (``local.LocalBackend``,
``ray_backend.RayBackend``), journalling every item (``checkpoint``) so a killed scan resumes
exactly where it stopped; ``retro.RetroHunter`` matches kept signals against new bank entries.
"""
