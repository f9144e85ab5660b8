"""Device configuration text (SSH backups): normalise it, mask its secrets with the vendors' catalogues
(catalogues/*.yaml), fingerprint the rules so stored versions are masked again when they change."""
