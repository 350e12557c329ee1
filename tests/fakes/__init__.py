"""Stand-ins for services the tests cannot reach: they answer on loopback with the real shapes."""
