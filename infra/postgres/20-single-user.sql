-- A credential with the single-user strategy: one LOGIN role whose password changes in
-- place. Run once per credential, after 10-rotator.sql, as the administrator that ran it (it
-- must hold ADMIN OPTION on the role on PostgreSQL 16+: its creator, or the administrator
-- that creates it here), in the postgres database:
--
--   psql "<admin connection>" -v ON_ERROR_STOP=1 -v managed_role=<login role> -f infra/postgres/20-single-user.sql
--
-- An existing role is adopted unchanged; a missing one is created with LOGIN and no password
-- (set the first one as the deployment guide says). The rotator itself gets nothing here.

CREATE OR REPLACE FUNCTION pg_temp.create_role_if_missing(role_name text, can_login boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
    EXECUTE format('CREATE ROLE %I %s', role_name, CASE WHEN can_login THEN 'LOGIN' ELSE 'NOLOGIN' END);
  END IF;
END
$$;

-- The functions' owner may alter the role. PostgreSQL 16+ asks for ADMIN OPTION (INHERIT
-- FALSE and SET FALSE: none of the role's privileges on the application's data); before 16,
-- CREATEROLE alone suffices, and a membership would inherit those privileges.
CREATE OR REPLACE FUNCTION pg_temp.let_rotation_admin_alter(role_name text, end_sessions boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
    RAISE EXCEPTION 'role % holds SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS: the credential rotator must not manage it', role_name;
  END IF;
  IF current_setting('server_version_num')::int >= 160000 THEN
    EXECUTE format('GRANT %I TO credential_rotation_admin WITH ADMIN TRUE, INHERIT %s, SET FALSE', role_name, CASE WHEN end_sessions THEN 'TRUE' ELSE 'FALSE' END);
  ELSIF end_sessions THEN
    EXECUTE format('GRANT %I TO credential_rotation_admin WITH ADMIN OPTION', role_name);
  END IF;
END
$$;

SELECT pg_temp.create_role_if_missing(:'managed_role', true);
SELECT pg_temp.let_rotation_admin_alter(:'managed_role', false);

SET ROLE credential_rotation_admin;
INSERT INTO credential_rotation.managed_role (role_name) VALUES (:'managed_role') ON CONFLICT DO NOTHING;
RESET ROLE;
