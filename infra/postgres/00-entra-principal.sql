-- Makes the rotator's managed identity a PostgreSQL role (Azure Database for PostgreSQL
-- flexible server with Microsoft Entra authentication). Run as a Microsoft Entra
-- administrator of the server, in the postgres database (the pgaadauth functions exist
-- only there):
--
--   psql "host=<server>.postgres.database.azure.com dbname=postgres user=<entra admin> sslmode=require" \
--     -v ON_ERROR_STOP=1 \
--     -v rotator_role=<identity name> -v rotator_object_id=<identity principal (object) id> \
--     -f infra/postgres/00-entra-principal.sql
--
-- The identity signs in with a token for https://ossrdbms-aad.database.windows.net/.default
-- and the role name as user name. isAdmin = false keeps it out of azure_pg_admin;
-- 10-rotator.sql adds the one attribute it needs. The object id, not the display name,
-- binds the role, so two principals with the same name cannot be confused.
-- Re-running is harmless: an existing role is left as it is.

CREATE OR REPLACE FUNCTION pg_temp.create_entra_service_principal(role_name text, object_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
    -- (role name, object id, object type, isAdmin, isMfa)
    PERFORM pgaadauth_create_principal_with_oid(role_name, object_id, 'service', false, false);
  END IF;
END
$$;

SELECT pg_temp.create_entra_service_principal(:'rotator_role', :'rotator_object_id');
