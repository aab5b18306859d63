"""De-identified reports (SPEC §8): `Query.report`, saved report views and the CSV export."""
