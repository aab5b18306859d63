-- The peer's set-up in a copy of the benchmark's database: PostGraphile v4 over schema `peer`,
-- with row-level security that lists the students SchoolGraph lists (SPEC §4–5, app/relations.py
-- `Viewer.scope()`), read from SchoolGraph's own tables. Run as a superuser, after
-- `peer.students` has been filled (bench/peer/database.py copies the rows, email decrypted).
--
-- The shape is the fast one measured in ../shared/peer: STABLE SECURITY DEFINER functions return
-- the viewer's ids as arrays, computed once per statement, and the policy is `col = any(array)`,
-- which the planner answers from indexes (BitmapOr) instead of running a subquery per row.
-- SECURITY DEFINER: the helpers read the relationship tables as their owner, so the policy never
-- recurses into other policies, and `peer_user` needs no grant on SchoolGraph's tables.

do $$
begin
  create role peer_anonymous nologin;
exception when duplicate_object then null;
end $$;
do $$
begin
  create role peer_user nologin;
exception when duplicate_object then null;
end $$;
do $$
begin
  create role peer_authenticator login noinherit password 'peer';
exception when duplicate_object then null;
end $$;
grant peer_anonymous, peer_user to peer_authenticator;

create schema peer_private;

-- The viewer: the token's user_id, which PostGraphile sets per transaction.
create function peer_private.viewer_id() returns bigint
  language sql stable parallel safe
  as $$ select nullif(current_setting('jwt.claims.user_id', true), '')::bigint $$;

-- Each helper starts from the viewer's account when it may sign in (SchoolGraph refuses the
-- others) and keeps to the viewer's district, as SchoolGraph's row scope does. Keeping every
-- condition inside the helpers leaves the policy a plain OR of three indexable arms: a condition
-- beside them (the district) would be re-checked row by row, calling the helpers for every row.

-- The viewer's account and district, when the account may sign in; no row otherwise.
-- `rows 1` is what it returns at most. Without it the planner assumes a set-returning function's
-- 1,000 rows, multiplies every join of the helpers by them, and with costs in the hundreds of
-- thousands PostgreSQL's JIT (on by default) compiles each helper's plan: ~0.7 s per call instead
-- of ~3 ms, for every request.
create function peer_private.active_viewer() returns table (uid bigint, district_id bigint)
  language sql stable security definer parallel safe rows 1
  set search_path = pg_catalog, pg_temp
  as $$
    select u.id, u.district_id from public.app_user u
     where u.id = peer_private.viewer_id() and u.is_active and u.locked_at is null
  $$;

-- Students related to the viewer one by one: self, guardian_of, teacher_of, classmate, and
-- the students of active legitimate-interest grants (a vendor's only where the student consents
-- to disclosure to third parties).
create function peer_private.visible_student_ids() returns bigint[]
  language sql stable security definer parallel safe
  set search_path = pg_catalog, pg_temp
  as $$
    with me as (select * from peer_private.active_viewer()),
    vendor as (
      select exists (select 1 from public.role_assignment ra, me
                      where ra.user_id = me.uid and ra.role = 'support') as third_party
    ),
    grants as (
      select g.* from public.legitimate_interest_grant g, me
       where g.grantee_user_id = me.uid and g.revoked_at is null
         and g.starts_at <= now() and g.expires_at > now()
    ),
    candidates as (
      select s.id as sid, false as needs_consent from public.student s, me where s.user_id = me.uid
      union all
      select gl.student_id, false
        from public.guardian_link gl join public.student s on s.id = gl.student_id, me
       where gl.guardian_user_id = me.uid and gl.data_access
         and gl.starts_on <= current_date and (gl.ends_on is null or gl.ends_on >= current_date)
         -- a guardian's access ends at 18 unless the student consents; unknown age: a minor
         and (coalesce(s.date_of_birth + interval '18 years' > current_date, true)
              or coalesce((select c.granted from public.consent c
                            where c.student_id = s.id and c.kind = 'guardian_access'
                            order by c.recorded_at desc, c.id desc limit 1), false))
      union all
      select e.student_id, false
        from public.teaching_assignment ta join public.enrollment e on e.class_id = ta.class_id, me
       where ta.staff_user_id = me.uid
         and exists (select 1 from public.role_assignment ra
                      where ra.user_id = me.uid and ra.role = 'teacher')
         and ta.starts_on <= current_date and (ta.ends_on is null or ta.ends_on >= current_date)
         and e.begins_on <= current_date and (e.ends_on is null or e.ends_on >= current_date)
      union all
      select e2.student_id, false
        from public.student mine, me,
             public.enrollment e1
        join public.enrollment e2 on e2.class_id = e1.class_id
        join public.student mate on mate.id = e2.student_id
       where mine.user_id = me.uid and e1.student_id = mine.id and e2.student_id <> mine.id
         and not mate.directory_opt_out
         and e1.begins_on <= current_date and (e1.ends_on is null or e1.ends_on >= current_date)
         and e2.begins_on <= current_date and (e2.ends_on is null or e2.ends_on >= current_date)
      union all
      select g.student_id, true from grants g where g.scope = 'student'
      union all
      select e.student_id, true
        from grants g join public.enrollment e on e.class_id = g.class_id
       where g.scope = 'class'
         and e.begins_on <= current_date and (e.ends_on is null or e.ends_on >= current_date)
      union all
      select s.id, true
        from grants g join public.student s on s.school_id = g.school_id, vendor
       where g.scope = 'school' and vendor.third_party
    )
    select coalesce(array_agg(distinct c.sid), '{}')
      from candidates c
      join public.student s on s.id = c.sid
      join me on s.district_id = me.district_id, vendor
     where not (c.needs_consent and vendor.third_party)
        or coalesce((select k.granted from public.consent k
                      where k.student_id = c.sid and k.kind = 'third_party_disclosure'
                      order by k.recorded_at desc, k.id desc limit 1), false)
  $$;

-- Schools whose students the viewer sees whole: an official's schools (coordinator, designee,
-- school or district admin assigned to a school), and schools of a grant to someone who is not
-- a vendor.
create function peer_private.visible_school_ids() returns bigint[]
  language sql stable security definer parallel safe
  set search_path = pg_catalog, pg_temp
  as $$
    with me as (select * from peer_private.active_viewer())
    select coalesce(array_agg(distinct v.school_id), '{}') from (
      select ra.school_id from public.role_assignment ra, me
       where ra.user_id = me.uid and ra.school_id is not null
         and ra.role in ('coordinator', 'designee', 'school_admin', 'district_admin')
      union all
      select g.school_id from public.legitimate_interest_grant g, me
       where g.grantee_user_id = me.uid and g.scope = 'school' and g.revoked_at is null
         and g.starts_at <= now() and g.expires_at > now()
         and not exists (select 1 from public.role_assignment ra
                          where ra.user_id = me.uid and ra.role = 'support')
    ) v
    join public.school sc on sc.id = v.school_id
    join me on sc.district_id = me.district_id
  $$;

-- The viewer's district when they hold an official role across it.
create function peer_private.visible_district_ids() returns bigint[]
  language sql stable security definer parallel safe
  set search_path = pg_catalog, pg_temp
  as $$
    select coalesce(array_agg(distinct me.district_id), '{}')
      from peer_private.active_viewer() me join public.role_assignment ra on ra.user_id = me.uid
     where ra.school_id is null
       and ra.role in ('coordinator', 'designee', 'school_admin', 'district_admin')
  $$;

alter table peer.students enable row level security;
create policy students_select on peer.students for select to peer_user
  using (id = any (peer_private.visible_student_ids())
         or school_id = any (peer_private.visible_school_ids())
         or district_id = any (peer_private.visible_district_ids()));

-- Read-only, table-level grants (never column-level: they break PostGraphile's computed columns).
revoke all on schema peer, peer_private from public;
revoke execute on all functions in schema peer_private from public;
grant usage on schema peer, peer_private to peer_anonymous, peer_user;
grant select on peer.students to peer_user;
grant execute on all functions in schema peer_private to peer_user;
