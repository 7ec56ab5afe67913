-- A credential with the single-user strategy: one LOGIN role whose password changes in
-- place. Run once per credential, after 10-rotator.sql, as an administrator that holds ADMIN
-- OPTION on the role (its creator, or the administrator that creates it here), in the
-- postgres database:
--
--   psql "<admin connection>" -v ON_ERROR_STOP=1 \
--     -v rotator_role=<rotator> -v managed_role=<login role> -f infra/postgres/20-single-user.sql
--
-- An existing role is adopted unchanged; a missing one is created with LOGIN and no password
-- (set the first one as the deployment guide says).

CREATE OR REPLACE FUNCTION pg_temp.create_role_if_missing(role_name text, can_login boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
    EXECUTE format('CREATE ROLE %I %s', role_name, CASE WHEN can_login THEN 'LOGIN' ELSE 'NOLOGIN' END);
  END IF;
END
$$;

SELECT pg_temp.create_role_if_missing(:'managed_role', true);

-- ADMIN: the rotator may ALTER ROLE ... PASSWORD on it. INHERIT FALSE and SET FALSE: it gets
-- none of the role's privileges on the application's data and cannot act as it.
GRANT :"managed_role" TO :"rotator_role" WITH ADMIN TRUE, INHERIT FALSE, SET FALSE;
