-- A credential with the alternating-users strategy: a NOLOGIN group role that owns the
-- application's objects and two LOGIN roles that act as it, one live, one idle. Run once per
-- credential, after 10-rotator.sql, as an administrator that holds ADMIN OPTION on the three
-- roles (their creator, or the administrator that creates them here), in the postgres
-- database:
--
--   psql "<admin connection>" -v ON_ERROR_STOP=1 -v rotator_role=<rotator> \
--     -v group_role=<group> -v login_a=<first login> -v login_b=<second login> \
--     -f infra/postgres/21-alternating-users.sql
--
-- Existing roles are adopted; missing ones are created. Give the group what the application
-- needs in its database (for example ALTER DATABASE <db> OWNER TO <group>, or REASSIGN OWNED
-- BY <old role> TO <group> there): the logins themselves must own nothing.

CREATE OR REPLACE FUNCTION pg_temp.create_role_if_missing(role_name text, can_login boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
    EXECUTE format('CREATE ROLE %I %s', role_name, CASE WHEN can_login THEN 'LOGIN' ELSE 'NOLOGIN' END);
  END IF;
END
$$;

SELECT pg_temp.create_role_if_missing(:'group_role', false);
SELECT pg_temp.create_role_if_missing(:'login_a', true);
SELECT pg_temp.create_role_if_missing(:'login_b', true);

-- Each login starts every session as the group, so whatever either creates is owned by the
-- group and usable by the other. SET TRUE allows that; INHERIT FALSE stops the group's
-- privileges from flowing through the logins to anything that inherits a login. (psql may
-- print "NOTICE: permission will be denied to set role": that is about the administrator
-- running this script, not about the logins.)
GRANT :"group_role" TO :"login_a" WITH INHERIT FALSE, SET TRUE;
GRANT :"group_role" TO :"login_b" WITH INHERIT FALSE, SET TRUE;
ALTER ROLE :"login_a" SET role = :"group_role";
ALTER ROLE :"login_b" SET role = :"group_role";

-- ADMIN: the rotator may change each login's password and switch it LOGIN / NOLOGIN.
-- INHERIT: pg_terminate_backend ends only sessions of roles whose privileges the caller has,
-- and retiring the idle login ends its sessions; the logins own nothing, so this reaches no
-- data. The narrower alternative does not exist: pg_signal_backend would reach every
-- non-superuser session on the server. SET FALSE: it never acts as them.
GRANT :"login_a" TO :"rotator_role" WITH ADMIN TRUE, INHERIT TRUE, SET FALSE;
GRANT :"login_b" TO :"rotator_role" WITH ADMIN TRUE, INHERIT TRUE, SET FALSE;
