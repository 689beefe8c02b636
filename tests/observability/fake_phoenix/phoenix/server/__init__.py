"""The stand-in's server package."""
