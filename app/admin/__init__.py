"""District administration: what a school's or the district's administrators manage."""
