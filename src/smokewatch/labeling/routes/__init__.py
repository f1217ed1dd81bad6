"""HTTP routes, one module per audience: volunteers, researchers, the public."""
