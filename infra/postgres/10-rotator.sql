-- The rotator role: CREATEROLE and nothing else. Run after 00-entra-principal.sql (or, on a
-- server without Entra authentication, after creating the role with a password), as the
-- same administrator, in the postgres database:
--
--   psql "<admin connection>" -v ON_ERROR_STOP=1 -v rotator_role=<role> -f infra/postgres/10-rotator.sql
--
-- Since PostgreSQL 16, CREATEROLE alone changes no existing role: it lets the rotator alter
-- the password and LOGIN of exactly the roles on which it is granted ADMIN OPTION
-- (20-single-user.sql, 21-alternating-users.sql). It can never create, alter or become a
-- superuser, and it cannot hand out CREATEDB, REPLICATION or BYPASSRLS, which it lacks.

ALTER ROLE :"rotator_role" CREATEROLE;

-- Refuse to finish with a rotator that holds more than that.
CREATE OR REPLACE FUNCTION pg_temp.assert_least_privilege(role_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  r pg_catalog.pg_roles%ROWTYPE;
BEGIN
  SELECT * INTO STRICT r FROM pg_catalog.pg_roles WHERE rolname = role_name;
  IF r.rolsuper OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls OR NOT r.rolcreaterole OR NOT r.rolcanlogin THEN
    RAISE EXCEPTION 'role % must be LOGIN CREATEROLE NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS', role_name;
  END IF;
  IF EXISTS (
    SELECT FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
    WHERE m.member = r.oid AND g.rolname IN ('azure_pg_admin', 'pg_signal_backend', 'pg_read_all_data', 'pg_write_all_data')
  ) THEN
    RAISE EXCEPTION 'role % must not be a member of azure_pg_admin or of a predefined role', role_name;
  END IF;
END
$$;

SELECT pg_temp.assert_least_privilege(:'rotator_role');
