"""What CI computed, handed between jobs through the DVC remote and checked before it merges."""
