-- A credential with the alternating-users strategy: a NOLOGIN group role that owns the
-- application's objects and two LOGIN roles that act as it, one live, one idle. Run once per
-- credential, after 10-rotator.sql, as the administrator that ran it (it must hold ADMIN
-- OPTION on the three roles on PostgreSQL 16+: their creator, or the administrator that
-- creates them here), in the postgres database:
--
--   psql "<admin connection>" -v ON_ERROR_STOP=1 \
--     -v group_role=<group> -v login_a=<first login> -v login_b=<second login> \
--     -f infra/postgres/21-alternating-users.sql
--
-- Existing roles are adopted; missing ones are created. Give the group what the application
-- needs in its database (for example ALTER DATABASE <db> OWNER TO <group>, or REASSIGN OWNED
-- BY <old role> TO <group> there): the logins themselves must own nothing. The rotator itself
-- gets nothing here.

CREATE OR REPLACE FUNCTION pg_temp.create_role_if_missing(role_name text, can_login boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
    EXECUTE format('CREATE ROLE %I %s', role_name, CASE WHEN can_login THEN 'LOGIN' ELSE 'NOLOGIN' END);
  END IF;
END
$$;

-- Each login starts every session as the group, so whatever either creates is owned by the
-- group and usable by the other, and it does not inherit the group's privileges, so they do
-- not flow through the login to anything that inherits it. PostgreSQL 16+ says so per
-- membership (INHERIT FALSE, SET TRUE); before 16 the login itself is NOINHERIT.
CREATE OR REPLACE FUNCTION pg_temp.act_as_group(login text, group_role text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('server_version_num')::int >= 160000 THEN
    EXECUTE format('GRANT %I TO %I WITH INHERIT FALSE, SET TRUE', group_role, login);
  ELSE
    EXECUTE format('ALTER ROLE %I NOINHERIT', login);
    IF NOT pg_catalog.pg_has_role(login, group_role, 'MEMBER') THEN
      EXECUTE format('GRANT %I TO %I', group_role, login);
    END IF;
  END IF;
  EXECUTE format('ALTER ROLE %I SET role = %I', login, group_role);
END
$$;

-- The functions' owner may alter each login (ADMIN OPTION on 16+, CREATEROLE before) and end
-- its sessions: pg_terminate_backend asks for the privileges of the session's role, so the
-- owner holds each login with INHERIT. The logins own nothing and do not inherit the group,
-- so that reaches no data; the wider alternative, pg_signal_backend, would reach every
-- non-superuser session on the server. SET FALSE: it never acts as them.
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

SELECT pg_temp.create_role_if_missing(:'group_role', false);
SELECT pg_temp.create_role_if_missing(:'login_a', true);
SELECT pg_temp.create_role_if_missing(:'login_b', true);
SELECT pg_temp.act_as_group(:'login_a', :'group_role');
SELECT pg_temp.act_as_group(:'login_b', :'group_role');
SELECT pg_temp.let_rotation_admin_alter(:'login_a', true);
SELECT pg_temp.let_rotation_admin_alter(:'login_b', true);

SET ROLE credential_rotation_admin;
INSERT INTO credential_rotation.managed_role (role_name) VALUES (:'login_a'), (:'login_b') ON CONFLICT DO NOTHING;
RESET ROLE;
