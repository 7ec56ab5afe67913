-- Moves a deployment bootstrapped with the previous scripts (the rotator held CREATEROLE and
-- ADMIN OPTION on each managed role) to the functions of 10-rotator.sql. Run the new
-- 10-rotator.sql first, then this, as the administrator that ran the old scripts, in the
-- postgres database, while no rotation runs:
--
--   psql "<admin connection>" -v ON_ERROR_STOP=1 -v rotator_role=<role> -f infra/postgres/30-migrate-from-createrole.sql
--
-- Every role the rotator holds is allow-listed and granted to credential_rotation_admin with
-- the same INHERIT option (INHERIT marks an alternating login, whose sessions retire ends),
-- then taken from the rotator, which ends with no membership and no CREATEROLE. All in one
-- transaction; a second run has nothing to do.

BEGIN;

CREATE OR REPLACE FUNCTION pg_temp.migrate(rotator text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  m record;
BEGIN
  IF current_setting('server_version_num')::int < 160000 THEN
    RAISE EXCEPTION 'the CREATEROLE bootstrap ran only on PostgreSQL 16 or later; on % run 20-single-user.sql or 21-alternating-users.sql per credential', current_setting('server_version');
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'credential_rotation') THEN
    RAISE EXCEPTION 'run the new 10-rotator.sql first: schema credential_rotation does not exist';
  END IF;
  -- Preflight reads the allow-list through it; a 10-rotator.sql older than it leaves it out.
  -- Looked up in the catalog: this administrator need not have USAGE on the schema.
  IF NOT EXISTS (
    SELECT FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'credential_rotation' AND p.proname = 'is_allowed' AND p.pronargs = 1 AND p.proargtypes[0] = 'text'::pg_catalog.regtype
  ) THEN
    RAISE EXCEPTION 'run the new 10-rotator.sql first: function credential_rotation.is_allowed(text) does not exist';
  END IF;
  FOR m IN
    SELECT g.rolname AS role_name, gr.rolname AS grantor, a.inherit_option AS inherit,
           g.rolsuper OR g.rolcreaterole OR g.rolreplication OR g.rolbypassrls AS privileged
      FROM pg_catalog.pg_auth_members a
      JOIN pg_catalog.pg_roles g ON g.oid = a.roleid JOIN pg_catalog.pg_roles gr ON gr.oid = a.grantor
     WHERE a.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = rotator)
     ORDER BY 1
  LOOP
    IF m.privileged OR m.role_name LIKE 'pg\_%' OR m.role_name IN ('azure_pg_admin', 'credential_rotation_admin') THEN
      RAISE EXCEPTION 'role % holds role %, which is not an application login: revoke it by hand, then run this again', rotator, m.role_name;
    END IF;
    EXECUTE format('GRANT %I TO credential_rotation_admin WITH ADMIN TRUE, INHERIT %s, SET FALSE', m.role_name, CASE WHEN m.inherit THEN 'TRUE' ELSE 'FALSE' END);
    SET LOCAL ROLE credential_rotation_admin;
    INSERT INTO credential_rotation.managed_role (role_name) VALUES (m.role_name) ON CONFLICT DO NOTHING;
    RESET ROLE;
    EXECUTE format('REVOKE %I FROM %I GRANTED BY %I', m.role_name, rotator, m.grantor);
    RAISE NOTICE 'role % moved from % to the allow-list of credential_rotation_admin', m.role_name, rotator;
  END LOOP;
  IF (SELECT rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = rotator) THEN
    EXECUTE format('ALTER ROLE %I NOCREATEROLE', rotator);
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.pg_auth_members WHERE member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = rotator)) THEN
    RAISE EXCEPTION 'role % still holds a role membership', rotator;
  END IF;
END
$$;

SELECT pg_temp.migrate(:'rotator_role');

COMMIT;
