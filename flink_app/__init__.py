"""StreamFlow live scoring: a PyFlink job over the shared fraud core."""
