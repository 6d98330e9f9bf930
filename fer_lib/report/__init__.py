"""The results page: arms, tests, claims."""
