"""The seed Vectro's module path, `vectro.python`, kept so its README examples run unchanged."""
