"""OneRoster CSV import (SPEC §2, docs/oneroster.md): one module per job.

`csvfiles` reads a set liberally, `manifest` says its version and modes, `rows` checks each row,
`mapping` turns OneRoster values into SchoolGraph's, `load` stages and upserts, `report` counts,
`importer` runs them in one transaction.
"""
