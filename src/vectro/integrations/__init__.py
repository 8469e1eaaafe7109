"""Adapters that let code written for other tools run on vectro."""
