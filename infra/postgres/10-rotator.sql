-- The rotator role: EXECUTE on four functions and nothing else. Run after
-- 00-entra-principal.sql (or, on a server without Entra authentication, after creating the
-- role with a password), as the same administrator, in the postgres database:
--
--   psql "<admin connection>" -v ON_ERROR_STOP=1 -v rotator_role=<role> -f infra/postgres/10-rotator.sql
--
-- The rotator changes passwords only through SECURITY DEFINER functions in the schema
-- credential_rotation, owned by the NOLOGIN role credential_rotation_admin:
--   set_password(role, verifier)   a SCRAM-SHA-256 verifier (nothing else), or NULL for none
--   set_login(role, can_login)     LOGIN / NOLOGIN
--   retire_login(role, end)        NOLOGIN, no password, and its sessions ended (or counted)
--   is_allowed(role)               read-only: whether the role is on the allow-list (preflight)
-- The first three refuse a role missing from credential_rotation.managed_role, which only
-- credential_rotation_admin (and the administrator that can act as it) may change; 20- and
-- 21- add the roles. The rotator holds no CREATEROLE and no membership: it cannot create a
-- role, alter any other role, or grant anything. The same script works on PostgreSQL 13-18.
-- An existing deployment of the CREATEROLE model runs this, then 30-migrate-from-createrole.sql;
-- one bootstrapped before is_allowed existed runs this again to add it.

CREATE OR REPLACE FUNCTION pg_temp.create_rotation_admin() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v int := current_setting('server_version_num')::int;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'credential_rotation_admin') THEN
    -- CREATEROLE lets it alter the managed roles: since PostgreSQL 16 only those it holds ADMIN on.
    CREATE ROLE credential_rotation_admin NOLOGIN CREATEROLE;
  END IF;
  -- The administrator running the bootstrap must be able to act as it, to own and fill its objects.
  IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    IF v >= 160000 AND NOT pg_catalog.pg_has_role(current_user, 'credential_rotation_admin', 'SET') THEN
      EXECUTE 'GRANT credential_rotation_admin TO CURRENT_USER WITH INHERIT FALSE, SET TRUE';
    ELSIF v < 160000 AND NOT pg_catalog.pg_has_role(current_user, 'credential_rotation_admin', 'MEMBER') THEN
      EXECUTE 'GRANT credential_rotation_admin TO CURRENT_USER';
    END IF;
  END IF;
END
$$;

SELECT pg_temp.create_rotation_admin();
CREATE SCHEMA IF NOT EXISTS credential_rotation AUTHORIZATION credential_rotation_admin;

SET ROLE credential_rotation_admin;

-- The allow-list. No grant on it: only its owner changes it.
CREATE TABLE IF NOT EXISTS credential_rotation.managed_role (role_name name PRIMARY KEY);
REVOKE ALL ON TABLE credential_rotation.managed_role FROM PUBLIC;

-- Two helpers, run by the three changing functions as their owner; nobody else may call them.
-- The guard every function runs first. Besides the allow-list it refuses a role that holds
-- an attribute no application login needs, in case one was listed by mistake or gained it
-- later; and the owner itself, which could otherwise be given a password and LOGIN.
CREATE OR REPLACE FUNCTION credential_rotation.managed(role_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
BEGIN
  IF NOT EXISTS (SELECT FROM credential_rotation.managed_role m WHERE m.role_name = managed.role_name) THEN
    RAISE EXCEPTION 'role % is not managed by the credential rotator', quote_ident(role_name)
      USING ERRCODE = 'insufficient_privilege', HINT = 'An administrator adds it with infra/postgres/20-single-user.sql or 21-alternating-users.sql.';
  END IF;
  SELECT * INTO r FROM pg_roles WHERE rolname = role_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role % does not exist', quote_ident(role_name) USING ERRCODE = 'undefined_object';
  END IF;
  IF r.rolsuper OR r.rolcreaterole OR r.rolreplication OR r.rolbypassrls OR role_name = 'credential_rotation_admin' THEN
    RAISE EXCEPTION 'role % holds SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS: the credential rotator never manages it', quote_ident(role_name)
      USING ERRCODE = 'insufficient_privilege';
  END IF;
END
$$;

-- Runs one ALTER ROLE. A failure is raised again with its code, message and detail only:
-- PostgreSQL's context would quote the statement, and with it the verifier.
CREATE OR REPLACE FUNCTION credential_rotation.alter_role(statement text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  code text;
  message text;
  detail text;
BEGIN
  EXECUTE statement;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
  RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, DETAIL = detail;
END
$$;

CREATE OR REPLACE FUNCTION credential_rotation.set_password(role_name text, verifier text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM credential_rotation.managed(role_name);
  IF verifier IS NULL THEN
    PERFORM credential_rotation.alter_role(format('ALTER ROLE %I PASSWORD NULL', role_name));
    RETURN;
  END IF;
  -- Anything else would be taken as a plaintext password, hashed by the server, and logged
  -- wherever the statement is: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
  IF verifier !~ '^SCRAM-SHA-256\$[1-9][0-9]{0,9}:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$' THEN
    RAISE EXCEPTION 'the password of role % must be given as a SCRAM-SHA-256 verifier', quote_ident(role_name)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM credential_rotation.alter_role(format('ALTER ROLE %I PASSWORD %L', role_name, verifier));
END
$$;

CREATE OR REPLACE FUNCTION credential_rotation.set_login(role_name text, can_login boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM credential_rotation.managed(role_name);
  IF can_login IS NULL THEN
    RAISE EXCEPTION 'can_login must be true or false' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM credential_rotation.alter_role(format('ALTER ROLE %I %s', role_name, CASE WHEN can_login THEN 'LOGIN' ELSE 'NOLOGIN' END));
END
$$;

-- Ending sessions needs the privileges of the login: its owner holds them with INHERIT
-- (21-alternating-users.sql). The caller's own session is never ended.
CREATE OR REPLACE FUNCTION credential_rotation.retire_login(role_name text, end_sessions boolean, OUT sessions integer, OUT ended integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  session_pid integer;
BEGIN
  PERFORM credential_rotation.managed(role_name);
  PERFORM credential_rotation.alter_role(format('ALTER ROLE %I NOLOGIN PASSWORD NULL', role_name));
  sessions := 0;
  ended := 0;
  FOR session_pid IN SELECT a.pid FROM pg_stat_activity a WHERE a.usename = role_name AND a.pid <> pg_backend_pid() LOOP
    sessions := sessions + 1;
    IF end_sessions AND pg_terminate_backend(session_pid) THEN
      ended := ended + 1;
    END IF;
  END LOOP;
END
$$;

-- The allow-list, answered one role at a time: the table stays readable by its owner only, and
-- preflight can say that a role is missing from it before a rotation fails at apply.
CREATE OR REPLACE FUNCTION credential_rotation.is_allowed(role_name text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM credential_rotation.managed_role m WHERE m.role_name = is_allowed.role_name)
$$;

-- Functions are executable by PUBLIC by default: take that away, then give the rotator the four.
REVOKE ALL ON FUNCTION credential_rotation.managed(text), credential_rotation.alter_role(text),
  credential_rotation.set_password(text, text), credential_rotation.set_login(text, boolean),
  credential_rotation.retire_login(text, boolean), credential_rotation.is_allowed(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA credential_rotation TO :"rotator_role";
GRANT EXECUTE ON FUNCTION credential_rotation.set_password(text, text), credential_rotation.set_login(text, boolean),
  credential_rotation.retire_login(text, boolean), credential_rotation.is_allowed(text) TO :"rotator_role";

RESET ROLE;

-- The rotator's sessions never write bound parameters (the verifier is one) to the server
-- log, and pg_stat_statements records only its top-level statements (the function calls,
-- with placeholders), not the ALTER ROLE inside. log_parameter_max_length and
-- pg_stat_statements.track are superuser settings: where this administrator may not set
-- them, a WARNING says so, and the server-wide values must be 0 and top (their defaults are
-- -1 and top). The CREATEROLE of the previous model is taken away.
CREATE OR REPLACE FUNCTION pg_temp.configure_rotator(role_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  setting text;
BEGIN
  IF (SELECT rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
    EXECUTE format('ALTER ROLE %I NOCREATEROLE', role_name);
  END IF;
  FOREACH setting IN ARRAY ARRAY['log_parameter_max_length = 0', 'log_parameter_max_length_on_error = 0', 'pg_stat_statements.track = top'] LOOP
    BEGIN
      EXECUTE format('ALTER ROLE %I SET %s', role_name, setting);
    EXCEPTION WHEN insufficient_privilege OR undefined_object THEN
      RAISE WARNING 'could not set % for role %: %', setting, role_name, SQLERRM
        USING HINT = 'Set it server-wide, or have a superuser run ALTER ROLE ... SET.';
    END;
  END LOOP;
END
$$;

SELECT pg_temp.configure_rotator(:'rotator_role');

-- Refuse to finish with a rotator, or a function owner, that holds more than that.
CREATE OR REPLACE FUNCTION pg_temp.assert_least_privilege(role_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  r pg_catalog.pg_roles%ROWTYPE;
  o pg_catalog.pg_roles%ROWTYPE;
BEGIN
  SELECT * INTO STRICT r FROM pg_catalog.pg_roles WHERE rolname = role_name;
  IF r.rolsuper OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls OR r.rolcreaterole OR NOT r.rolcanlogin THEN
    RAISE EXCEPTION 'role % must be LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS', role_name;
  END IF;
  IF EXISTS (
    SELECT FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
    WHERE m.member = r.oid AND (g.rolname IN ('azure_pg_admin', 'credential_rotation_admin') OR g.rolname LIKE 'pg\_%')
  ) THEN
    RAISE EXCEPTION 'role % must not be a member of azure_pg_admin, credential_rotation_admin or a predefined role', role_name;
  END IF;
  SELECT * INTO STRICT o FROM pg_catalog.pg_roles WHERE rolname = 'credential_rotation_admin';
  IF o.rolsuper OR o.rolcanlogin OR o.rolcreatedb OR o.rolreplication OR o.rolbypassrls OR NOT o.rolcreaterole THEN
    RAISE EXCEPTION 'role credential_rotation_admin must be NOLOGIN CREATEROLE NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS';
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.pg_auth_members m WHERE m.member = r.oid) THEN
    RAISE NOTICE 'role % still holds role memberships: run 30-migrate-from-createrole.sql', role_name;
  END IF;
END
$$;

SELECT pg_temp.assert_least_privilege(:'rotator_role');
