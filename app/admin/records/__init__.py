"""The district's records, kept by its administrators: students, classes, enrollments, teaching
assignments and guardian links, a module per entity.

Each function checks what the data demands (the target exists in the actor's district, a period
ends after it starts, a student number is unused) and appends its audit event in the same
transaction; whether the viewer may make the change is decided by the caller against the policy
(`Student`, `Class`, `Class.visibility`, `Enrollment`, `TeachingAssignment`, `GuardianLink`).
Personal values go through `app.rights.changes.audit_changes`, before and after encrypted.
"""
