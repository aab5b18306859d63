"""The bundle of everything SchoolGraph holds about one student (an inspection request).

One module per job:

- `collect`: reads the student's record, decrypted, with a fixed number of SQL statements
  (`Bundle`: named tables of rows, in a stable order);
- `json`, `csv`, `html`: the same bundle as one JSON document, one CSV file per table, and one
  self-contained page a parent can open and read;
- `zip`: all of them in one archive (`record.json`, `csv/<table>.csv`, `index.html`,
  `README.txt`).

```python
bundle = await collect(connection, student_id=7, generated_at=now)
archive = build_zip(bundle)   # bytes of the .zip
```
"""

from app.rights.bundle.collect import Bundle, Table, collect
from app.rights.bundle.zip import build_zip

__all__ = ["Bundle", "Table", "build_zip", "collect"]
