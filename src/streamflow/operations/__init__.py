"""Operations of the platform: dead-letter monitoring and replay, retention and housekeeping."""
